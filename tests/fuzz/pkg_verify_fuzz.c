/* pkg_verify_fuzz.c -- libFuzzer: any bytes as the signature of a fixed package through pkgverify_fd(): refused with a reason, or accepted only for the publisher, digest, kind, type and version it was signed as. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pkgverify.h"

/*
 * The package: bytes 0 to 255.  The signing CA (valid until 2126); the
 * seeds in corpus/pkg_verify/ were made by its publisher certificate
 * (CN=Fuzz.Publisher, codeSigning) with openssl cms -sign -binary
 * -nodetach -econtent_type PKGSTATEMENT_OID -outform DER over statements
 * (good: the extension Fuzz 1.0 of this package; gc: the guest
 * configuration fuzzconf 1.0.0; otherfile, otherpub, extra, dup, badjson;
 * nocerts, noattr, truncated), one detached (detached), one as plain data
 * (data) and one of the old format, the package bytes detached (old).
 */
#define FZ_PUBLISHER	"Fuzz.Publisher"
#define FZ_TYPE		"Fuzz"
#define FZ_VERSION	"1.0"
#define FZ_SHA256	"40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880"
#define FZ_OTHER_SHA256	"40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944881"
static const char fz_ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBijCCATCgAwIBAgIUdBNwQhjLHx+YVkspj1YrmmAy13AwCgYIKoZIzj0EAwIw\n"
	"IjEgMB4GA1UEAwwXRnV6eiBQYWNrYWdlIFNpZ25pbmcgQ0EwIBcNMjYxMjA2MDYz\n"
	"MjA3WhgPMjEyNjExMTIwNjMyMDdaMCIxIDAeBgNVBAMMF0Z1enogUGFja2FnZSBT\n"
	"aWduaW5nIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELARRFKe6sHu1pDQ6\n"
	"tLtgdoZC6b1XREj9IJ680i8M/19/fI18M3r7cNtMqOxliPWAc7NWMbFSrHnUKefm\n"
	"AEEST6NCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0O\n"
	"BBYEFDkhiNSIoikPj7x/dtu8XZdUIfZsMAoGCCqGSM49BAMCA0gAMEUCIQDm+EWG\n"
	"M7/pade8QbazUllbPhxaQu5vTLRDCBRiAI1kZQIgRvtx2BNkJptwa+Ws9K5LMVHr\n"
	"cK4y6iAgAxGxVRkqvBM=\n"
	"-----END CERTIFICATE-----\n";

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
static void	fz_bad(const char *, const char *) __attribute__((noreturn));

static struct pkgverify	*pv;
static int		 pkgfd = -1;

static void
fz_bad(const char *what, const char *detail)
{
	fprintf(stderr, "\n*** pkgverify property broken: %s%s%s\n", what,
	    detail ? ": " : "", detail ? detail : "");
	abort();
}

static void
fz_init(void)
{
	unsigned char	 pkg[256];
	char		 dir[256], path[300], err[256];
	const char	*tmp;
	FILE		*f;
	int		 i;

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/pkg_verify_fuzz.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		fz_bad("mkdtemp", strerror(errno));
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	if ((f = fopen(path, "w")) == NULL)
		fz_bad("CA file", strerror(errno));
	fputs(fz_ca_pem, f);
	fclose(f);
	if ((pv = pkgverify_new(path, err, sizeof(err))) == NULL)
		fz_bad("pkgverify_new", err);
	unlink(path);
	rmdir(dir);
	for (i = 0; i < 256; i++)
		pkg[i] = (unsigned char)i;
	if ((pkgfd = memfd_create("pkg", MFD_CLOEXEC)) == -1 ||
	    write(pkgfd, pkg, sizeof(pkg)) != (ssize_t)sizeof(pkg))
		fz_bad("package file", strerror(errno));
}

static int
fz_verify(enum pkg_kind kind, const char *publisher, const char *name,
    const char *version, const char *sha, const uint8_t *data, size_t size,
    struct pkg_statement *got, char *err, size_t errlen)
{
	struct pkg_expect	exp = { kind, publisher, name, version, sha, 256 };
	int			rc;

	err[0] = '\0';
	rc = pkgverify_fd(pv, pkgfd, &exp, data, size, got, err, errlen);
	if (rc != 0 && rc != -1)
		fz_bad("neither 0 nor -1", NULL);
	if (rc == -1 && err[0] == '\0')
		fz_bad("refused with no reason", NULL);
	if (lseek(pkgfd, 0, SEEK_CUR) != 0)
		fz_bad("the package fd not back at 0", NULL);
	return rc;
}

/* What was accepted was signed by the publisher, for this very file. */
static void
fz_check_signed(const struct pkg_statement *got, enum pkg_kind kind)
{
	if (got->kind != kind || strcmp(got->publisher, FZ_PUBLISHER) != 0 ||
	    strcmp(got->sha256, FZ_SHA256) != 0 || got->size != 256 ||
	    !pkgstatement_word_ok(got->name) ||
	    !pkgstatement_word_ok(got->version))
		fz_bad("accepted a statement about something else", got->name);
}

/* Accepted as the extension FZ_TYPE FZ_VERSION: as nothing else. */
static void
fz_only_this_extension(const uint8_t *data, size_t size)
{
	char	err[512];

	if (fz_verify(PKG_EXTENSION, "Fuzz.Publisher2", FZ_TYPE, FZ_VERSION,
	    FZ_SHA256, data, size, NULL, err, sizeof(err)) != -1 ||
	    strstr(err, "is not publisher") == NULL)
		fz_bad("accepted for another publisher", err);
	if (fz_verify(PKG_EXTENSION, FZ_PUBLISHER, FZ_TYPE, FZ_VERSION,
	    FZ_OTHER_SHA256, data, size, NULL, err, sizeof(err)) != -1 ||
	    strcmp(err, "sha256 mismatch") != 0)
		fz_bad("accepted against another digest", err);
	if (fz_verify(PKG_EXTENSION, FZ_PUBLISHER, "Fuzz2", FZ_VERSION,
	    FZ_SHA256, data, size, NULL, err, sizeof(err)) != -1 ||
	    strcmp(err, "signature: signed as type " FZ_TYPE ", not Fuzz2") != 0)
		fz_bad("accepted as another type", err);
	if (fz_verify(PKG_EXTENSION, FZ_PUBLISHER, FZ_TYPE, "1.1", FZ_SHA256,
	    data, size, NULL, err, sizeof(err)) != -1 ||
	    strcmp(err, "signature: signed as version " FZ_VERSION ", not "
	    "1.1") != 0)
		fz_bad("accepted as another version", err);
	if (fz_verify(PKG_GUESTCONFIG, FZ_PUBLISHER, NULL, NULL, FZ_SHA256,
	    data, size, NULL, err, sizeof(err)) != -1 ||
	    strstr(err, "signed as an extension package") == NULL)
		fz_bad("accepted as a guest configuration", err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkg_statement	got;
	char			err[512], again[512];
	int			rc;

	if (pv == NULL)
		fz_init();
	rc = fz_verify(PKG_EXTENSION, FZ_PUBLISHER, FZ_TYPE, FZ_VERSION,
	    FZ_SHA256, data, size, &got, err, sizeof(err));
	/* Nothing remembered between calls: the same answer twice. */
	if (fz_verify(PKG_EXTENSION, FZ_PUBLISHER, FZ_TYPE, FZ_VERSION,
	    FZ_SHA256, data, size, NULL, again, sizeof(again)) != rc ||
	    strcmp(err, again) != 0)
		fz_bad("not the same answer twice", err);
	if (rc == -1 && strncmp(err, "signature: ", 11) != 0)
		fz_bad("a signature problem not reported as one", err);
	if (rc == 0) {
		fz_check_signed(&got, PKG_EXTENSION);
		if (strcmp(got.name, FZ_TYPE) != 0 ||
		    strcmp(got.version, FZ_VERSION) != 0)
			fz_bad("accepted as what it was not signed as", got.name);
		fz_only_this_extension(data, size);
	}
	/* As a guest configuration of any name and version. */
	if (fz_verify(PKG_GUESTCONFIG, FZ_PUBLISHER, NULL, NULL, FZ_SHA256,
	    data, size, &got, err, sizeof(err)) == 0) {
		fz_check_signed(&got, PKG_GUESTCONFIG);
		if (fz_verify(PKG_EXTENSION, FZ_PUBLISHER, got.name,
		    got.version, FZ_SHA256, data, size, NULL, err,
		    sizeof(err)) != -1)
			fz_bad("a guest configuration accepted as an extension",
			    got.name);
	} else if (strncmp(err, "signature: ", 11) != 0)
		fz_bad("a signature problem not reported as one", err);
	return 0;
}
