/* pkg_verify_fuzz.c -- libFuzzer: any bytes as the detached signature of a fixed package through pkgverify_fd(): refused with a reason, or accepted only for its own publisher and digest. */
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
 * -outform DER (good, noattr, nocerts, embedded, truncated).
 */
#define FZ_PUBLISHER	"Fuzz.Publisher"
#define FZ_SHA256	"40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880"
#define FZ_OTHER_SHA256	"40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944881"
static const char fz_ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBiTCCATCgAwIBAgIUY93hSMGbsA3bNOVOp0GXW5CpqyIwCgYIKoZIzj0EAwIw\n"
	"IjEgMB4GA1UEAwwXRnV6eiBQYWNrYWdlIFNpZ25pbmcgQ0EwIBcNMjYxMjA1MjAw\n"
	"MTI0WhgPMjEyNjExMTEyMDAxMjRaMCIxIDAeBgNVBAMMF0Z1enogUGFja2FnZSBT\n"
	"aWduaW5nIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+0t/BPzrJio3UWpZ\n"
	"okq1bfXZ1hY9F1yzKsVOdJ2x6jZ22brL8QONU5KVpUVL6yt9pSHhB++pB0XhDo+o\n"
	"slnwmqNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0O\n"
	"BBYEFCbBtasZRs/TU0RIVnl6gqmVN5xNMAoGCCqGSM49BAMCA0cAMEQCIGNEJ6I5\n"
	"MNNtUXGJh9PEct5jhzFtTQbpxNGwtSdo9LaEAiBF++SvHW+oVk8Gat4SqTwMrBBr\n"
	"DQqRyLXKtuwxGanwaQ==\n"
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
fz_verify(const char *publisher, const char *sha, const uint8_t *data,
    size_t size, char *err, size_t errlen)
{
	struct pkg_expect	exp = { publisher, sha, 256 };
	int			rc;

	err[0] = '\0';
	rc = pkgverify_fd(pv, pkgfd, &exp, data, size, err, errlen);
	if (rc != 0 && rc != -1)
		fz_bad("neither 0 nor -1", NULL);
	if (rc == -1 && err[0] == '\0')
		fz_bad("refused with no reason", NULL);
	if (lseek(pkgfd, 0, SEEK_CUR) != 0)
		fz_bad("the package fd not back at 0", NULL);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	err[512], again[512];
	int	rc;

	if (pv == NULL)
		fz_init();
	rc = fz_verify(FZ_PUBLISHER, FZ_SHA256, data, size, err, sizeof(err));
	/* Nothing remembered between calls: the same answer twice. */
	if (fz_verify(FZ_PUBLISHER, FZ_SHA256, data, size, again,
	    sizeof(again)) != rc || strcmp(err, again) != 0)
		fz_bad("not the same answer twice", err);
	if (rc == -1) {
		if (strncmp(err, "signature: ", 11) != 0)
			fz_bad("a signature problem not reported as one", err);
		return 0;
	}
	/* Accepted: for this publisher and this digest only. */
	if (fz_verify("Fuzz.Publisher2", FZ_SHA256, data, size, err,
	    sizeof(err)) != -1 || strstr(err, "is not publisher") == NULL)
		fz_bad("accepted for another publisher", err);
	if (fz_verify(FZ_PUBLISHER, FZ_OTHER_SHA256, data, size, err,
	    sizeof(err)) != -1 || strcmp(err, "sha256 mismatch") != 0)
		fz_bad("accepted against another digest", err);
	return 0;
}
