/* gcpack.h -- `cloudsim gc-pack`: a guest configuration package (the document and its metadata zipped), signed by its publisher, with its catalog entry. */
#ifndef GCPACK_H
#define GCPACK_H

#define GCPACK_PUBLISHER	"Cloudsim.GuestConfiguration"

/* cloudsim gc-pack CONFIG.json --name N --version V -o OUTDIR
 * [--publisher P] [--pki DIR] [--config-dir DIR]; argv[0] is "gc-pack".
 * Returns the exit status. */
int	gcpack_main(int argc, char *argv[]);

#endif
