/* cloudsim_pkgsign_test.c -- packages that ext-pack's pieces make (zip, signature of the statement naming the package, catalog) verify with lib/pkgverify as what they were signed as, and each broken or renamed one is refused with pkgverify's message. */
#include <sys/stat.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/objects.h>

#include "pki.h"
#include "pkgsign.h"
#include "pkgstatement.h"
#include "pkgverify.h"
#include "unit.h"

#define PUB	PKI_SAMPLE_PUBLISHER

static char	dir[64];		/* the test's temporary directory */
static char	pki[128], handler[128], out[128], ca[160];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* A PKI, a handler and an output directory, once. */
static void
prepare(void)
{
	char	err[512], path[PATH_MAX];
	int	kept;

	if (dir[0] != '\0')
		return;
	snprintf(dir, sizeof(dir), "/tmp/cloudsim-pkgsign-test-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(pki, sizeof(pki), "%s/pki", dir);
	snprintf(handler, sizeof(handler), "%s/handler", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(ca, sizeof(ca), "%s/pkgsign-ca.crt", pki);
	CU_ASSERT_EQUAL_FATAL(pki_create(pki, 0, &kept, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(handler, 0755), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(out, 0755), 0);
	snprintf(path, sizeof(path), "%s/bin", handler);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/HandlerManifest.json", handler);
	write_file(path, "[{\"version\":1.0,\"handlerManifest\":{}}]\n", 0644);
	snprintf(path, sizeof(path), "%s/bin/enable.sh", handler);
	write_file(path, "#!/bin/sh\necho enabled\n", 0755);
}

/*
 * ext-pack: the handler as publisher's Test-<version> into out; *f from
 * the catalog entry it wrote, as the control plane reads it.  name and sig
 * get the files' names.
 */
static void
make_package(const char *version, const char *publisher, char *name,
    char *sig, struct pkgsign_file *f)
{
	struct pkgsign_ext	 x = { handler, publisher, "Test", version, out, pki };
	struct pkgsign_file	 made;
	char			 err[512], path[PATH_MAX];
	json_error_t		 jerr;
	json_t			*doc;

	if (pkgsign_extension(&x, &made, err, sizeof(err)) != 0)
		fprintf(stderr, "ext-pack: %s\n", err);
	snprintf(path, sizeof(path), "%s/%s.Test-%s.json", out, publisher, version);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc = json_load_file(path, 0, &jerr));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "kind")),
	    "extension");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc,
	    "publisher")), publisher);
	snprintf(f->sha256, sizeof(f->sha256), "%s",
	    json_string_value(json_object_get(doc, "sha256")));
	f->size = (unsigned long long)json_integer_value(json_object_get(doc,
	    "size"));
	snprintf(name, 128, "%s", json_string_value(json_object_get(doc, "file")));
	snprintf(sig, 128, "%s", json_string_value(json_object_get(doc,
	    "signature")));
	CU_ASSERT_STRING_EQUAL(f->sha256, made.sha256);
	CU_ASSERT_EQUAL(f->size, made.size);
	json_decref(doc);
}

static void *
read_all(const char *name, size_t *len)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	char		*buf;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", out, name);
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	*len = (size_t)read(fd, buf, (size_t)st.st_size);
	close(fd);
	return buf;
}

/* pkgverify's verdict on out/name with sig (NULL: none) and the catalog's
 * f, as kind publisher's type (or configuration) at version. */
static int
verify_as(const char *name, const char *sig, enum pkg_kind kind,
    const char *publisher, const char *type, const char *version,
    const struct pkgsign_file *f, char *err, size_t errlen)
{
	struct pkgverify	*pv;
	struct pkg_expect	 exp = { kind, publisher, type, version,
				    f->sha256, f->size };
	char			 path[PATH_MAX];
	void			*sigbuf = NULL;
	size_t			 siglen = 0;
	int			 fd, rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pv = pkgverify_new(ca, err, errlen));
	if (sig != NULL)
		CU_ASSERT_PTR_NOT_NULL_FATAL(sigbuf = read_all(sig, &siglen));
	snprintf(path, sizeof(path), "%s/%s", out, name);
	CU_ASSERT_FATAL((fd = open(path, O_RDONLY | O_NOFOLLOW)) != -1);
	rc = pkgverify_fd(pv, fd, &exp, sigbuf, siglen, NULL, err, errlen);
	close(fd);
	free(sigbuf);
	pkgverify_free(pv);
	return rc;
}

/* As ext-pack's catalog entry names it: publisher's Test at version. */
static int
verify(const char *name, const char *sig, const char *publisher,
    const char *version, const struct pkgsign_file *f, char *err,
    size_t errlen)
{
	return verify_as(name, sig, PKG_EXTENSION, publisher, "Test", version,
	    f, err, errlen);
}

static void
test_pki_files(void)
{
	char		path[PATH_MAX], err[512];
	struct stat	st;
	X509		*cert;
	EVP_PKEY	*key;

	prepare();
	snprintf(path, sizeof(path), "%s/publishers/%s.key", pki, PUB);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(stat(ca, &st), 0);
	/* Issued on first use, then the same one. */
	CU_ASSERT_EQUAL(pki_publisher(pki, "Contoso.Mon", 0, &cert, &key, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/publishers/Contoso.Mon.crt", pki);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	X509_free(cert);
	EVP_PKEY_free(key);
	CU_ASSERT_EQUAL(pki_publisher(pki, "../evil", 0, &cert, &key, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "publisher"));
	CU_ASSERT_EQUAL(pki_publisher(pki, "a..b", 0, &cert, &key, err,
	    sizeof(err)), -1);
}

static void
test_verifies(void)
{
	struct pkgsign_file	f;
	char			err[512], name[128], sig[128];

	prepare();
	make_package("1.0", PUB, name, sig, &f);
	CU_ASSERT_STRING_EQUAL(name, PUB ".Test-1.0.zip");
	CU_ASSERT_STRING_EQUAL(sig, PUB ".Test-1.0.zip.p7s");
	CU_ASSERT_EQUAL(strlen(f.sha256), 64);
	CU_ASSERT(f.size > 100);
	CU_ASSERT_EQUAL(verify(name, sig, PUB, "1.0", &f, err, sizeof(err)), 0);
}

static void
test_reproducible(void)
{
	struct pkgsign_file	a, b;
	char			name[128], sig[128];

	prepare();
	make_package("2.0", PUB, name, sig, &a);
	make_package("2.0", PUB, name, sig, &b);
	CU_ASSERT_STRING_EQUAL(a.sha256, b.sha256);
	CU_ASSERT_EQUAL(a.size, b.size);
}

static void
test_one_byte_changed(void)
{
	struct pkgsign_file	f;
	char			err[512], path[PATH_MAX], name[128], sig[128];
	unsigned char		c;
	int			fd;

	prepare();
	make_package("3.0", PUB, name, sig, &f);
	snprintf(path, sizeof(path), "%s/%s", out, name);
	CU_ASSERT_FATAL((fd = open(path, O_RDWR)) != -1);
	CU_ASSERT_EQUAL(pread(fd, &c, 1, 40), 1);
	c ^= 0x01;
	CU_ASSERT_EQUAL(pwrite(fd, &c, 1, 40), 1);
	close(fd);
	CU_ASSERT_EQUAL(verify(name, sig, PUB, "3.0", &f, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "sha256 mismatch");
}

static void
test_other_publisher(void)
{
	struct pkgsign_file	f;
	char			err[512], name[128], sig[128];

	prepare();
	make_package("1.0", "Fabrikam.Other", name, sig, &f);
	CU_ASSERT_EQUAL(verify(name, sig, PUB, "1.0", &f, err, sizeof(err)),
	    -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signer CN=Fabrikam.Other is "
	    "not publisher " PUB);
}

static void
test_missing_signature(void)
{
	struct pkgsign_file	f;
	char			err[512], name[128], sig[128];

	prepare();
	make_package("4.0", PUB, name, sig, &f);
	CU_ASSERT_EQUAL(verify(name, NULL, PUB, "4.0", &f, err, sizeof(err)),
	    -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: no signature");
}

static void
test_refusals(void)
{
	struct pkgsign_file	f;
	char			err[512], path[PATH_MAX];
	int			dfd;

	prepare();
	CU_ASSERT_FATAL((dfd = open(out, O_RDONLY | O_DIRECTORY)) != -1);
	snprintf(path, sizeof(path), "%s/nothing-here", dir);
	CU_ASSERT_EQUAL(pkgsign_zip_dir(path, dfd, "x.zip", &f, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nothing-here"));
	snprintf(path, sizeof(path), "%s/fifo", handler);
	CU_ASSERT_EQUAL(mkfifo(path, 0644), 0);
	CU_ASSERT_EQUAL(pkgsign_zip_dir(handler, dfd, "y.zip", &f, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "neither a file"));
	CU_ASSERT_EQUAL(faccessat(dfd, "y.zip", F_OK, 0), -1);	/* nothing left */
	unlink(path);
	{
		struct pkg_statement	id = { PKG_EXTENSION, PUB, "T", "1.0",
					    "", 0 };

		CU_ASSERT_EQUAL(pkgsign_sign(pki, &id, dfd, "missing.zip",
		    "missing.zip.p7s", err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing.zip"));
	}
	close(dfd);
	{
		struct pkgsign_ext	x = { handler, "Bad/Pub", "T", "1.0", out, pki };

		CU_ASSERT_EQUAL(pkgsign_extension(&x, &f, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "publisher"));
		x.publisher = PUB;
		x.version = "1.0-beta";
		CU_ASSERT_EQUAL(pkgsign_extension(&x, &f, err, sizeof(err)), -1);
	}
}

/* The signature's content: the statement, canonical, as pkgsign_sign wrote
 * it (NUL-terminated, malloc'd); NULL if it is not a statement's. */
static char *
signed_text(const char *sig)
{
	CMS_ContentInfo		*cms;
	ASN1_OCTET_STRING	**content;
	const unsigned char	*p;
	unsigned char		*der;
	char			 oid[128], *text = NULL;
	size_t			 len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(der = read_all(sig, &len));
	p = der;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) != NULL &&
	    CMS_is_detached(cms) == 0 &&
	    OBJ_obj2txt(oid, sizeof(oid), CMS_get0_eContentType(cms), 1) > 0 &&
	    strcmp(oid, PKGSTATEMENT_OID) == 0 &&
	    (content = CMS_get0_content(cms)) != NULL && *content != NULL &&
	    (text = malloc((size_t)ASN1_STRING_length(*content) + 1)) != NULL) {
		memcpy(text, ASN1_STRING_get0_data(*content),
		    (size_t)ASN1_STRING_length(*content));
		text[ASN1_STRING_length(*content)] = '\0';
	}
	CMS_ContentInfo_free(cms);
	free(der);
	return text;
}

/* ext-pack signs the statement of the package's type, version and digest;
 * the package is not any other type's or version's. */
static void
test_signed_identity(void)
{
	struct pkgsign_file	f;
	char			err[512], name[128], sig[128], want[512];
	char			*text;

	prepare();
	make_package("5.1", PUB, name, sig, &f);
	text = signed_text(sig);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	snprintf(want, sizeof(want), "{\"signingInfo\":{\"kind\":\"extension\","
	    "\"publisher\":\"%s\",\"type\":\"Test\",\"version\":\"5.1\"},"
	    "\"sha256\":\"%s\",\"size\":%llu}", PUB, f.sha256, f.size);
	CU_ASSERT_STRING_EQUAL(text, want);
	free(text);
	CU_ASSERT_EQUAL(verify(name, sig, PUB, "5.1", &f, err, sizeof(err)), 0);
	/* The cloud's catalog naming it another type, or another version. */
	CU_ASSERT_EQUAL(verify_as(name, sig, PKG_EXTENSION, PUB, "Renamed",
	    "5.1", &f, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as type Test, not "
	    "Renamed");
	CU_ASSERT_EQUAL(verify(name, sig, PUB, "5.2", &f, err, sizeof(err)),
	    -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as version 5.1, not 5.2");
	/* Nor a guest configuration's package. */
	CU_ASSERT_EQUAL(verify_as(name, sig, PKG_GUESTCONFIG, PUB, NULL, NULL,
	    &f, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as an extension package, "
	    "not a guestconfiguration");
}

/* pkgsign_sign as a guest configuration (gc-pack): the statement's name is
 * the configuration's, and the file's digest is read from the file. */
static void
test_sign_guestconfig(void)
{
	struct pkg_statement	id = { PKG_GUESTCONFIG, PUB, "audit", "1.0.0",
				    "ignored", 1 };
	struct pkgsign_file	f;
	char			err[512], name[128], sig[128];
	int			dfd;

	prepare();
	make_package("6.0", PUB, name, sig, &f);
	CU_ASSERT_FATAL((dfd = open(out, O_RDONLY | O_DIRECTORY)) != -1);
	CU_ASSERT_EQUAL(pkgsign_sign(pki, &id, dfd, name, "gc.p7s", err,
	    sizeof(err)), 0);
	close(dfd);
	CU_ASSERT_EQUAL(verify_as(name, "gc.p7s", PKG_GUESTCONFIG, PUB, "audit",
	    "1.0.0", &f, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(verify_as(name, "gc.p7s", PKG_EXTENSION, PUB, "audit",
	    "1.0.0", &f, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as a guestconfiguration "
	    "package, not an extension");
	/* A word no statement holds is not signed. */
	snprintf(id.name, sizeof(id.name), "../x");
	CU_ASSERT_FATAL((dfd = open(out, O_RDONLY | O_DIRECTORY)) != -1);
	CU_ASSERT_EQUAL(pkgsign_sign(pki, &id, dfd, name, "bad.p7s", err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "statement: "));
	CU_ASSERT_EQUAL(faccessat(dfd, "bad.p7s", F_OK, 0), -1);
	close(dfd);
}

/* A signature as ext-pack made them before the statement (detached, of
 * the zip's bytes): refused by name, not verified some other way. */
static void
test_old_format_refused(void)
{
	struct pkgsign_file	 f;
	char			 err[512], name[128], sig[128], path[PATH_MAX];
	X509			*cert;
	EVP_PKEY		*key;
	CMS_ContentInfo		*cms;
	BIO			*in, *der;
	FILE			*fp;

	prepare();
	make_package("7.0", PUB, name, sig, &f);
	CU_ASSERT_EQUAL_FATAL(pki_publisher(pki, PUB, 0, &cert, &key, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/%s", out, name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(in = BIO_new_file(path, "rb"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cms = CMS_sign(cert, key, NULL, in,
	    CMS_DETACHED | CMS_BINARY));
	snprintf(path, sizeof(path), "%s/%s", out, sig);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(path, "wb"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(der = BIO_new_fp(fp, BIO_CLOSE));
	CU_ASSERT_EQUAL(i2d_CMS_bio(der, cms), 1);
	BIO_free(der);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	X509_free(cert);
	EVP_PKEY_free(key);
	CU_ASSERT_EQUAL(verify(name, sig, PUB, "7.0", &f, err, sizeof(err)),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: old format (a detached "
	    "signature of the package bytes"));
}

static const struct unit_test tests[] = {
	{ "the signing CA and publishers", test_pki_files },
	{ "a package from ext-pack verifies", test_verifies },
	{ "packing twice gives the same zip", test_reproducible },
	{ "a one-byte change is refused", test_one_byte_changed },
	{ "another publisher's signature is refused", test_other_publisher },
	{ "a missing signature is refused", test_missing_signature },
	{ "bad trees and publishers", test_refusals },
	{ "the signature names the type and version", test_signed_identity },
	{ "a guest configuration's signature", test_sign_guestconfig },
	{ "an old-format signature is refused", test_old_format_refused },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc = unit_main("cloudsim_pkgsign", tests);

	if (dir[0] != '\0')
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return rc;
}
