/* pkgsign.h -- packages for the store: a directory zipped (libarchive, entries in byte order, fixed times), a file signed by its publisher (a DER CMS SignedData of the statement naming the package and its SHA-256) and catalog entries, each written through a rename. */
#ifndef PKGSIGN_H
#define PKGSIGN_H

#include <stddef.h>

#include <jansson.h>

#include "pkgstatement.h"

#define PKGSIGN_MTIME	946684800	/* 2000-01-01: every entry's time, so a zip is reproducible */

/* What was written. */
struct pkgsign_file {
	char			sha256[65];	/* lower-case hex */
	unsigned long long	size;
};

/*
 * Zips the tree under src (regular files, directories and symlinks, as
 * they are: a symlink is stored, never followed; anything else is refused)
 * into outdirfd/name, entries sorted by path, modes kept, owners and times
 * fixed.  The zip goes to a temp name first and is renamed when whole.
 */
int	pkgsign_zip_dir(const char *src, int outdirfd, const char *name,
	    struct pkgsign_file *out, char *err, size_t errlen);
/*
 * Signs outdirfd/name as id->publisher (DIR/publishers/<publisher>.*,
 * issued from DIR's package-signing CA on first use): the statement
 * (pkgstatement.h) of id's kind, name and version with the file's SHA-256
 * and size (read from the file; id's are not used), the content of a DER
 * CMS SignedData of type PKGSTATEMENT_OID (SHA-256, signed attributes, the
 * signer's certificate included), written to outdirfd/sig_name (0644).
 */
int	pkgsign_sign(const char *pki_dir, const struct pkg_statement *id,
	    int outdirfd, const char *name, const char *sig_name, char *err,
	    size_t errlen);
/* What ext-pack packs. */
struct pkgsign_ext {
	const char	*src;		/* the handler directory */
	const char	*publisher;	/* [A-Za-z0-9.] */
	const char	*type;		/* [A-Za-z0-9._-] */
	const char	*version;	/* 1.0 */
	const char	*outdir;	/* made (0755) when missing */
	const char	*pki_dir;	/* the package-signing CA, publishers/ */
};

/*
 * cloudsim ext-pack: outdir/P.T-V.zip, P.T-V.zip.p7s and the catalog entry
 * P.T-V.json ({"kind": "extension", "publisher", "type", "version",
 * "file", "signature", "sha256", "size"}), in that order.  The zip's
 * digest and size in *out.
 */
int	pkgsign_extension(const struct pkgsign_ext *, struct pkgsign_file *out,
	    char *err, size_t errlen);
/* Writes entry as outdirfd/name (JSON, 0644), atomically. */
int	pkgsign_catalog(int outdirfd, const char *name, json_t *entry,
	    char *err, size_t errlen);

#endif
