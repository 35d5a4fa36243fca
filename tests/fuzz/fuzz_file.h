/* fuzz_file.h -- the config harnesses' scratch directory: the input written as a file the loader reads, removed at exit. */
#ifndef FUZZ_FILE_H
#define FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/* A new directory under $TMPDIR (else /tmp), removed with its files at exit. */
const char	*fz_dir_new(const char *name);
/* Writes data to dir/name, replacing it. */
void		 fz_write(const char *dir, const char *name, const uint8_t *, size_t);
/* Does the input ask libconfig to read another file?  Such input is skipped:
 * "@include" reads whatever path it names (see README.md). */
int		 fz_has_include(const uint8_t *, size_t);

#endif
