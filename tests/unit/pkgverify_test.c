/* pkgverify_test.c -- packages checked against a throwaway signing CA made with the openssl CLI: each broken check is refused by name, and a package signed as one type or version is not another. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkgverify.h"
#include "unit.h"

#define PUBLISHER	"Contoso.Sample"
#define TYPE		"Hello"
#define VERSION		"1.0"

static char	 dir[64];
static char	 sha[65];	/* of pkg.zip */
static uint64_t	 pkgsize;

/*
 * The PKI and the signatures: a signing CA, the publisher, another
 * publisher under the same CA, the publisher's name under a rogue CA, a
 * TLS (not code-signing) certificate with the publisher's name, and the
 * publisher's own certificate used as if it were a CA.  Each signature is
 * of a statement (st*.json: what ext-pack and gc-pack sign), but for the
 * old format's (the package bytes alone, detached) and the broken ones.
 */
static const char pki_script[] =
	"set -e\n"
	"exec >log 2>&1\n"
	"printf '[req]\\ndistinguished_name=dn\\n[dn]\\n' >req.cnf\n"
	"cat >ext.cnf <<'EOF'\n"
	"[code]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
	"extendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\n"
	"authorityKeyIdentifier=keyid\n"
	"[tls]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
	"extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
	"authorityKeyIdentifier=keyid\n"
	"EOF\n"
	"ca() { openssl req -config req.cnf -x509 -newkey ec "
	"-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.crt "
	"-subj \"/CN=$2\" -days 30 -addext basicConstraints=critical,CA:TRUE "
	"-addext keyUsage=critical,keyCertSign,cRLSign "
	"-addext subjectKeyIdentifier=hash; }\n"
	"leaf() { openssl req -config req.cnf -new -newkey ec "
	"-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.csr "
	"-subj \"$2\"; "
	"openssl x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial "
	"-days 30 -extfile ext.cnf -extensions $4 -out $1.crt; }\n"
	"ca ca 'Package Signing CA'\n"
	"ca rogue 'Rogue CA'\n"
	"leaf pub '/O=Contoso/CN=" PUBLISHER "' ca code\n"
	"leaf other '/CN=Fabrikam.Other' ca code\n"
	"leaf roguepub '/CN=" PUBLISHER "' rogue code\n"
	"leaf tls '/CN=" PUBLISHER "' ca tls\n"
	"leaf sub '/CN=" PUBLISHER "' pub code\n"
	"leaf twocn '/CN=" PUBLISHER "/CN=Fabrikam.Other' ca code\n"
	"head -c 200000 /dev/urandom >pkg.zip\n"
	"head -c 100 /dev/urandom >other.bin\n"
	/* stmt OUT KIND PUBLISHER NAMEKEY NAME VERSION FILE */
	"stmt() { printf '{\"signingInfo\":{\"kind\":\"%s\",\"publisher\":"
	"\"%s\",\"%s\":\"%s\",\"version\":\"%s\"},\"sha256\":\"%s\","
	"\"size\":%s}' $2 $3 $4 $5 $6 $(sha256sum $7 | cut -c1-64) "
	"$(stat -c %s $7) >$1; }\n"
	"stmt st.json extension " PUBLISHER " type " TYPE " " VERSION " pkg.zip\n"
	"stmt stother.json extension Fabrikam.Other type " TYPE " " VERSION
	" pkg.zip\n"
	"stmt stfile.json extension " PUBLISHER " type " TYPE " " VERSION
	" other.bin\n"
	"stmt stgc.json guestconfiguration " PUBLISHER " name audit 1.0.0 "
	"pkg.zip\n"
	"printf '{\"signingInfo\": ' >stbad.json\n"
	"sed 's/\"version\"/\"type\":\"X\",\"version\"/' st.json >stdup.json\n"
	"sed 's/,\"size\"/,\"note\":1,\"size\"/' st.json >stextra.json\n"
	/* sign SIGNER OUT [STATEMENT [OPTIONS]] */
	"sign() { openssl cms -sign -binary -nodetach -econtent_type "
	PKGSTATEMENT_OID " -in ${3:-st.json} -signer $1.crt -inkey $1.key "
	"-outform DER -out $2 $4; }\n"
	"sign pub good.sig\n"
	"sign other other.sig stother.json\n"
	"sign roguepub rogue.sig\n"
	"sign tls tls.sig\n"
	"sign sub sub.sig st.json '-certfile pub.crt'\n"
	"sign twocn twocn.sig\n"
	"sign pub otherfile.sig stfile.json\n"
	"sign pub gc.sig stgc.json\n"
	"sign pub mispub.sig stother.json\n"
	"sign pub badjson.sig stbad.json\n"
	"sign pub dup.sig stdup.json\n"
	"sign pub extra.sig stextra.json\n"
	"sign pub sha1.sig st.json '-md sha1'\n"
	"sign pub noattr.sig st.json -noattr\n"
	/* The old format: the package's bytes, detached. */
	"openssl cms -sign -binary -in pkg.zip -signer pub.crt -inkey pub.key "
	"-outform DER -out old.sig\n"
	/* A statement, but detached; a statement as plain data. */
	"openssl cms -sign -binary -econtent_type " PKGSTATEMENT_OID
	" -in st.json -signer pub.crt -inkey pub.key -outform DER "
	"-out detached.sig\n"
	"openssl cms -sign -binary -nodetach -in st.json -signer pub.crt "
	"-inkey pub.key -outform DER -out data.sig\n"
	"openssl req -config req.cnf -new -newkey rsa:1024 -nodes -keyout weak.key "
	"-out weak.csr -subj '/CN=" PUBLISHER "'\n"
	"openssl x509 -req -in weak.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	"-days 30 -extfile ext.cnf -extensions code -out weak.crt\n"
	"sign weak weak.sig\n"
	"sha256sum pkg.zip | cut -c1-64 >pkg.sha\n";

static int
make_pki(void)
{
	char	cmd[256];
	FILE	*f;

	snprintf(cmd, sizeof(cmd), "%s/pki.sh", dir);
	if ((f = fopen(cmd, "w")) == NULL)
		return -1;
	fputs(pki_script, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && sh pki.sh || cat log", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static unsigned char *
slurp(const char *name, size_t *len)
{
	char		 path[128];
	unsigned char	*buf;
	struct stat	 st;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	*len = (size_t)read(fd, buf, (size_t)st.st_size);
	close(fd);
	return buf;
}

static int
open_pkg(const char *name)
{
	char	path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

static struct pkgverify *
new_verifier(void)
{
	char	path[128], err[256];
	struct pkgverify *pv;

	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	pv = pkgverify_new(path, err, sizeof(err));
	if (pv == NULL)
		fprintf(stderr, "pkgverify_new: %s\n", err);
	return pv;
}

/*
 * pkg against sigfile and the catalog entry (kind, publisher, name,
 * version, size; the real digest unless digest): the result, the message
 * in err, what was signed in *got (got may be NULL).
 */
static int
check_as(const char *pkg, const char *sigfile, enum pkg_kind kind,
    const char *publisher, const char *name, const char *version,
    uint64_t size, const char *digest, struct pkg_statement *got, char *err,
    size_t errlen)
{
	struct pkgverify	*pv;
	struct pkg_expect	 exp;
	unsigned char		*sig = NULL;
	size_t			 siglen = 0;
	char			 probe[8];
	int			 fd, rc;

	if ((pv = new_verifier()) == NULL)
		return -2;
	if (sigfile != NULL && (sig = slurp(sigfile, &siglen)) == NULL) {
		pkgverify_free(pv);
		return -2;
	}
	exp.kind = kind;
	exp.publisher = publisher;
	exp.name = name;
	exp.version = version;
	exp.sha256 = digest != NULL ? digest : sha;
	exp.size = size;
	fd = open_pkg(pkg);
	lseek(fd, 17, SEEK_SET);
	rc = pkgverify_fd(pv, fd, &exp, sig, siglen, got, err, errlen);
	/* Either way the caller reads the file again from its start. */
	CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 0);
	CU_ASSERT_EQUAL(read(fd, probe, 1), 1);
	close(fd);
	free(sig);
	pkgverify_free(pv);
	if (rc == -1)
		printf("  refused: %s\n", err);
	return rc;
}

/* pkg as the extension PUBLISHER's TYPE VERSION, or publisher's. */
static int
check(const char *pkg, const char *sigfile, const char *publisher,
    uint64_t size, const char *digest, char *err, size_t errlen)
{
	return check_as(pkg, sigfile, PKG_EXTENSION, publisher, TYPE, VERSION,
	    size, digest, NULL, err, errlen);
}

static void
test_good(void)
{
	struct pkg_statement	got;
	char			err[512], upper[65];
	size_t			i;

	CU_ASSERT_EQUAL(check_as("pkg.zip", "good.sig", PKG_EXTENSION,
	    PUBLISHER, TYPE, VERSION, pkgsize, NULL, &got, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(got.kind, PKG_EXTENSION);
	CU_ASSERT_STRING_EQUAL(got.publisher, PUBLISHER);
	CU_ASSERT_STRING_EQUAL(got.name, TYPE);
	CU_ASSERT_STRING_EQUAL(got.version, VERSION);
	CU_ASSERT_STRING_EQUAL(got.sha256, sha);
	CU_ASSERT_EQUAL(got.size, pkgsize);
	/* The catalog's digest in capitals is the same digest. */
	for (i = 0; i < 64; i++)
		upper[i] = (char)(sha[i] >= 'a' ? sha[i] - 32 : sha[i]);
	upper[64] = '\0';
	CU_ASSERT_EQUAL(check("pkg.zip", "good.sig", PUBLISHER, pkgsize, upper,
	    err, sizeof(err)), 0);
}

static void
test_one_byte_changed(void)
{
	char		 err[512], cmd[256], path[128];
	unsigned char	 c;
	int		 fd;

	/* One byte flipped: a fixed one written over random bytes was the
	 * same byte once in 256 runs, and the package verified. */
	snprintf(cmd, sizeof(cmd), "cd %s && cp pkg.zip bad.zip", dir);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/bad.zip", dir);
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(pread(fd, &c, 1, 100000) == 1);
	c ^= 0xff;
	CU_ASSERT_FATAL(pwrite(fd, &c, 1, 100000) == 1);
	close(fd);
	CU_ASSERT_EQUAL(check("bad.zip", "good.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "sha256 mismatch");
	/* With no signature or a garbage one, the file is still named first. */
	CU_ASSERT_EQUAL(check("bad.zip", NULL, PUBLISHER, pkgsize, NULL, err,
	    sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "sha256 mismatch");
	/* A changed file whose catalog digest was changed to match still
	 * fails the signature: it was signed for the other digest. */
	snprintf(cmd, sizeof(cmd), "cd %s && sha256sum bad.zip | cut -c1-64 "
	    ">bad.sha", dir);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	{
		unsigned char	*bsha;
		size_t		 n;
		char		 digest[65];

		bsha = slurp("bad.sha", &n);
		CU_ASSERT_FATAL(bsha != NULL && n >= 64);
		memcpy(digest, bsha, 64);
		digest[64] = '\0';
		free(bsha);
		CU_ASSERT_EQUAL(check("bad.zip", "good.sig", PUBLISHER, pkgsize,
		    digest, err, sizeof(err)), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: signed for "
		    "another file (sha256 "));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, sha));
	}
}

static void
test_wrong_size(void)
{
	char	err[512], want[64];

	CU_ASSERT_EQUAL(check("pkg.zip", "good.sig", PUBLISHER, pkgsize + 1,
	    NULL, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "size %llu != catalog %llu",
	    (unsigned long long)pkgsize, (unsigned long long)pkgsize + 1);
	CU_ASSERT_STRING_EQUAL(err, want);
}

static void
test_missing_signature(void)
{
	char	err[512];

	CU_ASSERT_EQUAL(check("pkg.zip", NULL, PUBLISHER, pkgsize, NULL, err,
	    sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: no signature");
}

static void
test_other_publisher(void)
{
	char	err[512];

	CU_ASSERT_EQUAL(check("pkg.zip", "other.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signer CN=Fabrikam.Other is "
	    "not publisher " PUBLISHER);
	/* The match is exact: case counts, and a prefix is not enough. */
	CU_ASSERT_EQUAL(check("pkg.zip", "good.sig", "contoso.sample", pkgsize,
	    NULL, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "is not publisher contoso.sample"));
	CU_ASSERT_EQUAL(check("pkg.zip", "good.sig", "Contoso", pkgsize, NULL,
	    err, sizeof(err)), -1);
	/* Two CNs: neither may be picked. */
	CU_ASSERT_EQUAL(check("pkg.zip", "twocn.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than one CN"));
}

static void
test_other_ca(void)
{
	char	err[512];

	CU_ASSERT_EQUAL(check("pkg.zip", "rogue.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: not signed by the "
	    "package-signing CA: "));
	/* The publisher's certificate cannot issue one in its name. */
	CU_ASSERT_EQUAL(check("pkg.zip", "sub.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: not signed by the "
	    "package-signing CA: "));
}

static void
test_not_code_signing(void)
{
	char	err[512];

	CU_ASSERT_EQUAL(check("pkg.zip", "tls.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signer CN=" PUBLISHER " is not "
	    "a code-signing certificate");
}

static void
test_bad_signature_bytes(void)
{
	char		 err[512], cmd[256];
	unsigned char	*sig;
	size_t		 len;
	FILE		*f;

	CU_ASSERT_EQUAL(check("pkg.zip", "pkg.zip", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: not a DER CMS "
	    "SignedData"));
	/* Truncated by one byte. */
	sig = slurp("good.sig", &len);
	CU_ASSERT_FATAL(sig != NULL);
	snprintf(cmd, sizeof(cmd), "%s/trunc.sig", dir);
	f = fopen(cmd, "w");
	fwrite(sig, 1, len - 1, f);
	fclose(f);
	CU_ASSERT_EQUAL(check("pkg.zip", "trunc.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: not a DER CMS "
	    "SignedData"));
	/* One byte of the statement changed: "version":"1.0" to "1.1". */
	{
		unsigned char	*at = memmem(sig, len, "\"version\":\"1.0\"",
				    15);

		CU_ASSERT_FATAL(at != NULL);
		at[13] = '1';
		snprintf(cmd, sizeof(cmd), "%s/stflip.sig", dir);
		f = fopen(cmd, "w");
		fwrite(sig, 1, len, f);
		fclose(f);
		at[13] = '0';
	}
	CU_ASSERT_EQUAL(check_as("pkg.zip", "stflip.sig", PKG_EXTENSION,
	    PUBLISHER, TYPE, "1.1", pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: does not verify"));
	/* One byte flipped near the end: the signature value. */
	sig[len - 5] ^= 0x55;
	snprintf(cmd, sizeof(cmd), "%s/flip.sig", dir);
	f = fopen(cmd, "w");
	fwrite(sig, 1, len, f);
	fclose(f);
	free(sig);
	CU_ASSERT_EQUAL(check("pkg.zip", "flip.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strncmp(err, "signature: ", 11) == 0 ? err :
	    NULL);
	/* Trailing bytes after a good signature. */
	snprintf(cmd, sizeof(cmd), "cd %s && cat good.sig >tail.sig && "
	    "printf 'x' >>tail.sig", dir);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL(check("pkg.zip", "tail.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bytes after it"));
}

static void
test_wrong_shape(void)
{
	char	err[512];

	/* A statement signed detached, and one signed as plain data. */
	CU_ASSERT_EQUAL(check("pkg.zip", "detached.sig", PUBLISHER, pkgsize,
	    NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: no signed statement in it "
	    "(detached)");
	CU_ASSERT_EQUAL(check("pkg.zip", "data.sig", PUBLISHER, pkgsize,
	    NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: not a package statement: "
	    "content type pkcs7-data");
	/* The content type unsigned: no signed attributes. */
	CU_ASSERT_EQUAL(check("pkg.zip", "noattr.sig", PUBLISHER, pkgsize,
	    NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: no signed attributes (the "
	    "content type is not signed)");
	/* A good signature of another file. */
	CU_ASSERT_EQUAL(check("pkg.zip", "otherfile.sig", PUBLISHER, pkgsize,
	    NULL, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: signed for another "
	    "file (sha256 "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ", 100 bytes)"));
	/* Weak crypto: a SHA-1 digest, an RSA-1024 signer. */
	CU_ASSERT_EQUAL(check("pkg.zip", "sha1.sig", PUBLISHER, pkgsize,
	    NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: digest SHA1 is not SHA-256 or "
	    "stronger");
	CU_ASSERT_EQUAL(check("pkg.zip", "weak.sig", PUBLISHER, pkgsize,
	    NULL, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: not signed by the "
	    "package-signing CA: "));
	/* A catalog entry that is not usable. */
	CU_ASSERT_EQUAL(check("pkg.zip", "good.sig", PUBLISHER, pkgsize,
	    "abc", err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "catalog: sha256 is not 64 hex digits");
	CU_ASSERT_EQUAL(check_as("pkg.zip", "good.sig", PKG_EXTENSION,
	    PUBLISHER, NULL, VERSION, pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "catalog: no type");
	CU_ASSERT_EQUAL(check_as("pkg.zip", "good.sig", PKG_EXTENSION,
	    PUBLISHER, TYPE, NULL, pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "catalog: no version");
}

/* The signature of the package bytes alone, as packages were signed before
 * the statement: refused by name, whatever else is right about it. */
static void
test_old_format(void)
{
	char	err[512];

	CU_ASSERT_EQUAL(check("pkg.zip", "old.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: old format (a detached "
	    "signature of the package bytes, which does not name the package's "
	    "type and version): the publisher must sign it again");
	CU_ASSERT_EQUAL(check_as("pkg.zip", "old.sig", PKG_GUESTCONFIG,
	    PUBLISHER, NULL, NULL, pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: old format"));
	/* The file is still named first. */
	CU_ASSERT_EQUAL(check("pkg.zip", "old.sig", PUBLISHER, pkgsize,
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "sha256 mismatch");
}

/* What the publisher signed the package as is what it installs as. */
static void
test_identity(void)
{
	struct pkg_statement	got;
	char			err[512];

	/* Signed as type Hello: not as another type, nor with other case. */
	CU_ASSERT_EQUAL(check_as("pkg.zip", "good.sig", PKG_EXTENSION,
	    PUBLISHER, "Renamed", VERSION, pkgsize, NULL, NULL, err,
	    sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as type Hello, not "
	    "Renamed");
	CU_ASSERT_EQUAL(check_as("pkg.zip", "good.sig", PKG_EXTENSION,
	    PUBLISHER, "hello", VERSION, pkgsize, NULL, NULL, err,
	    sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as type Hello, not "
	    "hello");
	/* Signed as version 1.0: not as 2.0, nor 1.0.0. */
	CU_ASSERT_EQUAL(check_as("pkg.zip", "good.sig", PKG_EXTENSION,
	    PUBLISHER, TYPE, "2.0", pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as version 1.0, not 2.0");
	CU_ASSERT_EQUAL(check_as("pkg.zip", "good.sig", PKG_EXTENSION,
	    PUBLISHER, TYPE, "1.0.0", pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as version 1.0, not "
	    "1.0.0");
	/* The kinds are not interchangeable. */
	CU_ASSERT_EQUAL(check_as("pkg.zip", "good.sig", PKG_GUESTCONFIG,
	    PUBLISHER, NULL, NULL, pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as an extension package, "
	    "not a guestconfiguration");
	CU_ASSERT_EQUAL(check_as("pkg.zip", "gc.sig", PKG_EXTENSION, PUBLISHER,
	    "audit", "1.0.0", pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as a guestconfiguration "
	    "package, not an extension");
	/* A guest configuration: any name and version, or the ones asked. */
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL(check_as("pkg.zip", "gc.sig", PKG_GUESTCONFIG,
	    PUBLISHER, NULL, NULL, pkgsize, NULL, &got, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(got.kind, PKG_GUESTCONFIG);
	CU_ASSERT_STRING_EQUAL(got.name, "audit");
	CU_ASSERT_STRING_EQUAL(got.version, "1.0.0");
	CU_ASSERT_EQUAL(check_as("pkg.zip", "gc.sig", PKG_GUESTCONFIG,
	    PUBLISHER, "audit", "1.0.0", pkgsize, NULL, NULL, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(check_as("pkg.zip", "gc.sig", PKG_GUESTCONFIG,
	    PUBLISHER, NULL, "1.0.1", pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as version 1.0.0, not "
	    "1.0.1");
	CU_ASSERT_EQUAL(check_as("pkg.zip", "gc.sig", PKG_GUESTCONFIG,
	    PUBLISHER, "other", NULL, pkgsize, NULL, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: signed as configuration audit, "
	    "not other");
	/* The statement's publisher is the signer's. */
	CU_ASSERT_EQUAL(check("pkg.zip", "mispub.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: statement names publisher "
	    "Fabrikam.Other, signed by " PUBLISHER);
}

/* Validly signed, but not a statement: refused, never half-read. */
static void
test_bad_statement(void)
{
	char	err[512];

	CU_ASSERT_EQUAL(check("pkg.zip", "badjson.sig", PUBLISHER, pkgsize,
	    NULL, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: statement: not JSON"));
	CU_ASSERT_EQUAL(check("pkg.zip", "dup.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "signature: statement: not JSON"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate"));
	CU_ASSERT_EQUAL(check("pkg.zip", "extra.sig", PUBLISHER, pkgsize, NULL,
	    err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "signature: statement: expected "
	    "{\"signingInfo\", \"sha256\", \"size\"}");
}

static void
test_bad_ca_file(void)
{
	char	path[128], err[256];

	snprintf(path, sizeof(path), "%s/pkg.sha", dir);
	CU_ASSERT_PTR_NULL(pkgverify_new(path, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no package-signing CA"));
	snprintf(path, sizeof(path), "%s/missing.crt", dir);
	CU_ASSERT_PTR_NULL(pkgverify_new(path, err, sizeof(err)));
	pkgverify_free(NULL);
}

static const struct unit_test tests[] = {
	{ "a good package", test_good },
	{ "one byte changed", test_one_byte_changed },
	{ "wrong size", test_wrong_size },
	{ "missing signature", test_missing_signature },
	{ "signed by another publisher", test_other_publisher },
	{ "signed under another CA", test_other_ca },
	{ "not a code-signing certificate", test_not_code_signing },
	{ "truncated or garbage signature", test_bad_signature_bytes },
	{ "detached, plain data, no attributes, another file, weak crypto",
	    test_wrong_shape },
	{ "an old-format signature", test_old_format },
	{ "signed as another type, version or kind", test_identity },
	{ "a signed text that is no statement", test_bad_statement },
	{ "the CA file", test_bad_ca_file },
	{ NULL, NULL }
};

int
main(void)
{
	unsigned char	*s;
	char		 cmd[128];
	size_t		 n;
	int		 rc;

	snprintf(dir, sizeof(dir), "/tmp/pkgverify_test.%d", (int)getpid());
	if (mkdir(dir, 0700) == -1 || make_pki() == -1) {
		fprintf(stderr, "pkgverify_test: cannot make the test PKI\n");
		return 1;
	}
	if ((s = slurp("pkg.sha", &n)) == NULL || n < 64)
		return 1;
	memcpy(sha, s, 64);
	free(s);
	pkgsize = 200000;
	rc = unit_main("pkgverify", tests);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
