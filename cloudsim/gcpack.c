/* gcpack.c -- `cloudsim gc-pack`: a guest configuration package (the document and its metadata zipped), signed by its publisher, with its catalog entry. */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "atomicfile.h"
#include "cloudsim.h"
#include "gcpack.h"
#include "pkgsign.h"

#define GCPACK_DOC_MAX	(4 << 20)	/* the engine reads no larger document */

static void
gcpack_usage(void)
{
	fprintf(stderr, "usage: cloudsim gc-pack CONFIG.json --name N --version V "
	    "-o OUTDIR [--publisher P] [--pki DIR] [--config-dir DIR]\n"
	    "  writes OUTDIR/N-V.zip (N.json, metadata.json), N-V.zip.p7s "
	    "(signed by P,\n  default " GCPACK_PUBLISHER ") and N-V.json, the "
	    "catalog entry; the PKI is --pki,\n  else <config-dir>/pki\n");
	exit(2);
}

/* N: what an assignment may be named; V: a version of [A-Za-z0-9._-]. */
static int
gcpack_word_ok(const char *s, int name)
{
	size_t	i;

	if (s == NULL || s[0] == '\0' || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i > 62 || (!isalnum((unsigned char)s[i]) &&
		    strchr(name ? "-_." : "._-", s[i]) == NULL))
			return 0;
	return 1;
}

static int
gcpack_publisher_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.')
			return 0;
	return i > 0;
}

/* The staging directory: N.json and metadata.json, then zipped. */
static int
gcpack_stage(const char *dir, const char *name, const char *version,
    const char *doc, size_t len, char *err, size_t errlen)
{
	json_t	*m;
	char	 path[PATH_MAX + 128], *meta;
	int	 rc;

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	if (atomicfile_write(path, doc, len, 0644, err, errlen) == -1)
		return -1;
	m = json_pack("{s:s, s:s}", "name", name, "version", version);
	meta = m != NULL ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) :
	    NULL;
	json_decref(m);
	if (meta == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/metadata.json", dir);
	rc = atomicfile_write(path, meta, strlen(meta), 0644, err, errlen);
	free(meta);
	return rc;
}

static void
gcpack_unstage(const char *dir, const char *name)
{
	char	path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	unlink(path);
	snprintf(path, sizeof(path), "%s/metadata.json", dir);
	unlink(path);
	rmdir(dir);
}

int
gcpack_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'N' },
		{ "version", required_argument, NULL, 'V' },
		{ "publisher", required_argument, NULL, 'P' },
		{ "pki", required_argument, NULL, 'K' },
		{ "config-dir", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 }
	};
	struct pkgsign_file	 zip;
	struct pkg_statement	 id;
	json_t			*entry = NULL, *parsed;
	const char		*name = NULL, *version = NULL, *outdir = NULL;
	const char		*publisher = GCPACK_PUBLISHER, *pki = NULL;
	const char		*config_dir = NULL, *src;
	char			 err[512], stage[PATH_MAX], file[160], sig[170];
	char			 cat[160], pki_default[PATH_MAX], *doc = NULL;
	size_t			 len;
	int			 ch, outfd = -1, rc = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'N': name = optarg; break;
		case 'V': version = optarg; break;
		case 'P': publisher = optarg; break;
		case 'K': pki = optarg; break;
		case 'C': config_dir = optarg; break;
		case 'o': outdir = optarg; break;
		default: gcpack_usage();
		}
	}
	if (optind != argc - 1 || outdir == NULL)
		gcpack_usage();
	src = argv[optind];
	if (!gcpack_word_ok(name, 1) || !gcpack_word_ok(version, 0)) {
		fprintf(stderr, "cloudsim gc-pack: --name (1-63 of [A-Za-z0-9-_.]) "
		    "and --version (like 1.0.0) are required\n");
		return 2;
	}
	if (!gcpack_publisher_ok(publisher)) {
		fprintf(stderr, "cloudsim gc-pack: --publisher: \"%s\" is not "
		    "[A-Za-z0-9.]+\n", publisher);
		return 2;
	}
	/* As ext-pack: the PKI beside the configuration. */
	pki = cloudsim_pki_dir(pki, config_dir, pki_default, sizeof(pki_default));
	if ((doc = atomicfile_read(src, GCPACK_DOC_MAX, &len, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "cloudsim gc-pack: %s\n", err);
		goto done;
	}
	/* A document the engine refuses is packed all the same (tests need
	 * one); the operator hears of it. */
	if ((parsed = json_loadb(doc, len, 0, NULL)) == NULL)
		fprintf(stderr, "cloudsim gc-pack: warning: %s is not JSON; the "
		    "machine will refuse it\n", src);
	json_decref(parsed);
	if ((outfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "cloudsim gc-pack: %s: %s\n", outdir,
		    strerror(errno));
		goto done;
	}
	snprintf(stage, sizeof(stage), "%s/.gc-pack-XXXXXX", outdir);
	if (mkdtemp(stage) == NULL) {
		fprintf(stderr, "cloudsim gc-pack: %s: %s\n", stage,
		    strerror(errno));
		goto done;
	}
	snprintf(file, sizeof(file), "%s-%s.zip", name, version);
	snprintf(sig, sizeof(sig), "%s.p7s", file);
	snprintf(cat, sizeof(cat), "%s-%s.json", name, version);
	if (gcpack_stage(stage, name, version, doc, len, err,
	    sizeof(err)) == -1 ||
	    pkgsign_zip_dir(stage, outfd, file, &zip, err, sizeof(err)) == -1) {
		gcpack_unstage(stage, name);
		fprintf(stderr, "cloudsim gc-pack: %s\n", err);
		goto done;
	}
	gcpack_unstage(stage, name);
	memset(&id, 0, sizeof(id));
	id.kind = PKG_GUESTCONFIG;
	snprintf(id.publisher, sizeof(id.publisher), "%s", publisher);
	snprintf(id.name, sizeof(id.name), "%s", name);
	snprintf(id.version, sizeof(id.version), "%s", version);
	if (pkgsign_sign(pki, &id, outfd, file, sig, err, sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim gc-pack: %s\n", err);
		goto done;
	}
	if ((entry = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
	    "kind", "guestconfiguration", "name", name, "version", version,
	    "publisher", publisher, "file", file, "signature", sig,
	    "sha256", zip.sha256, "size", (json_int_t)zip.size)) == NULL ||
	    pkgsign_catalog(outfd, cat, entry, err, sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim gc-pack: %s\n", entry == NULL ?
		    "out of memory" : err);
		goto done;
	}
	printf("cloudsim gc-pack: wrote %s/%s (%llu bytes, sha256 %s), %s "
	    "(signed by %s) and %s\n  contentUri "
	    "https://packages.cloudsim.test/packages/%s\n  contentHash %s\n",
	    outdir, file, zip.size, zip.sha256, sig, publisher, cat, file,
	    zip.sha256);
	rc = 0;
 done:
	if (outfd != -1)
		close(outfd);
	json_decref(entry);
	free(doc);
	return rc;
}
