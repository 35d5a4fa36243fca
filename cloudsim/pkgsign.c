/* pkgsign.c -- packages for the store: a directory zipped (libarchive, entries in byte order, fixed times), a file signed by its publisher (a DER CMS SignedData of the statement naming the package and its SHA-256) and catalog entries, each written through a rename. */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "atomicfile.h"
#include "extreq.h"
#include "pki.h"
#include "pkgstatement.h"
#include "pkgsign.h"
#include "tls.h"

#define PKGSIGN_MAX_ENTRIES	100000
#define PKGSIGN_IO		(256 * 1024)
#define PKGSIGN_PROBE		65536	/* bytes looked at to tell random from compressible */

/* The zip being written: to a temp file, hashed on the way. */
struct pkgsign_out {
	int			 fd;
	EVP_MD_CTX		*sha;
	unsigned long long	 size;
	int			 err;		/* errno of a failed write */
};

/* The tree being listed (nftw has no argument for its callback). */
static struct {
	char	**paths;	/* relative to the root, "" for the root itself */
	size_t	  n, cap;
	size_t	  root_len;
} pkgsign_walk;

static int
pkgsign_collect(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	char	**grown, *rel;

	(void)st;
	(void)flag;
	if (ftw->level == 0)
		return 0;
	if (pkgsign_walk.n >= PKGSIGN_MAX_ENTRIES)
		return E2BIG;
	if (pkgsign_walk.n == pkgsign_walk.cap) {
		pkgsign_walk.cap = pkgsign_walk.cap ? pkgsign_walk.cap * 2 : 64;
		if ((grown = reallocarray(pkgsign_walk.paths, pkgsign_walk.cap,
		    sizeof(*grown))) == NULL)
			return ENOMEM;
		pkgsign_walk.paths = grown;
	}
	if ((rel = strdup(path + pkgsign_walk.root_len + 1)) == NULL)
		return ENOMEM;
	pkgsign_walk.paths[pkgsign_walk.n++] = rel;
	return 0;
}

static int
pkgsign_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
pkgsign_walk_free(void)
{
	size_t	i;

	for (i = 0; i < pkgsign_walk.n; i++)
		free(pkgsign_walk.paths[i]);
	free(pkgsign_walk.paths);
	memset(&pkgsign_walk, 0, sizeof(pkgsign_walk));
}

static la_ssize_t
pkgsign_write_cb(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct pkgsign_out	*o = arg;
	const char		*p = buf;
	size_t			 left = len;
	ssize_t			 n;

	(void)a;
	while (left > 0) {
		if ((n = write(o->fd, p, left)) == -1) {
			if (errno == EINTR)
				continue;
			o->err = errno;
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	EVP_DigestUpdate(o->sha, buf, len);
	o->size += len;
	return (la_ssize_t)len;
}

/* One file's bytes into the archive. */
static int
pkgsign_copy(struct archive *a, const char *path, char *buf, char *err,
    size_t errlen)
{
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf, PKGSIGN_IO)) > 0)
		if (archive_write_data(a, buf, (size_t)n) != n) {
			snprintf(err, errlen, "%s: %s", path,
			    archive_error_string(a));
			close(fd);
			return -1;
		}
	if (n == -1)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	close(fd);
	return n == -1 ? -1 : 0;
}

/*
 * Does the start of the file look incompressible (already compressed or
 * random)?  The index of coincidence of its bytes is close to 1/256 then
 * (text is near 1/16).  Such a file is stored, not deflated: deflating it
 * costs time on both sides and saves nothing.  Decided by the content
 * alone, so a zip stays reproducible.
 */
static int
pkgsign_incompressible(const char *path)
{
	unsigned char		*buf;
	unsigned long long	 count[256] = { 0 }, sum = 0, n;
	ssize_t			 got;
	int			 fd, i;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	if ((buf = malloc(PKGSIGN_PROBE)) == NULL) {
		close(fd);
		return 0;
	}
	got = read(fd, buf, PKGSIGN_PROBE);
	close(fd);
	for (i = 0; i < got; i++)
		count[buf[i]]++;
	free(buf);
	if (got < 4096)
		return 0;
	for (i = 0; i < 256; i++)
		sum += count[i] * (count[i] - (count[i] > 0));
	n = (unsigned long long)got;
	/* sum / (n (n - 1)) < 1.1 / 256 */
	return sum * 2560 < 11 * n * (n - 1);
}

/* One entry of the tree: its header, then its bytes. */
static int
pkgsign_entry(struct archive *a, struct archive_entry *e, const char *src,
    const char *rel, char *buf, char *err, size_t errlen)
{
	char		path[PATH_MAX], target[PATH_MAX];
	struct stat	st;
	ssize_t		n;

	if (snprintf(path, sizeof(path), "%s/%s", src, rel) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s/%s: path too long", src, rel);
		return -1;
	}
	if (lstat(path, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	archive_entry_clear(e);
	archive_entry_set_pathname(e, rel);
	archive_entry_set_mtime(e, PKGSIGN_MTIME, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (S_ISREG(st.st_mode) && pkgsign_incompressible(path))
		archive_write_zip_set_compression_store(a);
	else
		archive_write_zip_set_compression_deflate(a);
	if (S_ISREG(st.st_mode)) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, st.st_mode & 0111 ? 0755 : 0644);
		archive_entry_set_size(e, st.st_size);
	} else if (S_ISDIR(st.st_mode)) {
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, 0755);
	} else if (S_ISLNK(st.st_mode)) {
		if ((n = readlink(path, target, sizeof(target) - 1)) == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		target[n] = '\0';
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_perm(e, 0777);
		archive_entry_set_symlink(e, target);
	} else {
		snprintf(err, errlen, "%s: neither a file, a directory nor a "
		    "symlink; a package holds none of those", path);
		return -1;
	}
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		snprintf(err, errlen, "%s: %s", path, archive_error_string(a));
		return -1;
	}
	return S_ISREG(st.st_mode) ? pkgsign_copy(a, path, buf, err, errlen) : 0;
}

static void
pkgsign_hex(const unsigned char *md, unsigned len, char *hex)
{
	unsigned	i;

	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* A temp name next to name: .<name>.tmp.<pid>.<random>. */
static void
pkgsign_temp_name(const char *name, char *tmp, size_t len)
{
	unsigned int	r = 0;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	snprintf(tmp, len, ".%s.tmp.%ld.%08x", name, (long)getpid(), r);
}

int
pkgsign_zip_dir(const char *src, int outdirfd, const char *name,
    struct pkgsign_file *out, char *err, size_t errlen)
{
	struct pkgsign_out	 o = { -1, NULL, 0, 0 };
	struct archive		*a = NULL;
	struct archive_entry	*e = NULL;
	struct stat		 st;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned		 mdlen;
	char			 tmp[NAME_MAX + 1], *buf = NULL;
	size_t			 i;
	int			 rc;

	tmp[0] = '\0';
	if (stat(src, &st) == -1) {
		snprintf(err, errlen, "%s: %s", src, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", src);
		return -1;
	}
	memset(&pkgsign_walk, 0, sizeof(pkgsign_walk));
	pkgsign_walk.root_len = strlen(src);
	while (pkgsign_walk.root_len > 1 && src[pkgsign_walk.root_len - 1] == '/')
		pkgsign_walk.root_len--;
	if ((rc = nftw(src, pkgsign_collect, 16, FTW_PHYS)) != 0) {
		snprintf(err, errlen, "%s: %s", src, rc == -1 ? strerror(errno) :
		    rc == E2BIG ? "too many entries" : strerror(rc));
		goto fail;
	}
	if (pkgsign_walk.n == 0) {
		snprintf(err, errlen, "%s: empty; a handler holds at least "
		    "HandlerManifest.json", src);
		goto fail;
	}
	qsort(pkgsign_walk.paths, pkgsign_walk.n, sizeof(char *), pkgsign_cmp);
	pkgsign_temp_name(name, tmp, sizeof(tmp));
	if ((o.fd = openat(outdirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0644)) == -1 || fchmod(o.fd, 0644) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if ((buf = malloc(PKGSIGN_IO)) == NULL ||
	    (o.sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(o.sha, EVP_sha256(), NULL) != 1 ||
	    (a = archive_write_new()) == NULL ||
	    (e = archive_entry_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
	    archive_write_set_options(a, "zip:compression=deflate") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, &o, NULL, pkgsign_write_cb, NULL) != ARCHIVE_OK) {
		snprintf(err, errlen, "%s: %s", name, archive_error_string(a));
		goto fail;
	}
	for (i = 0; i < pkgsign_walk.n; i++)
		if (pkgsign_entry(a, e, src, pkgsign_walk.paths[i], buf, err,
		    errlen) == -1)
			goto fail;
	if (archive_write_close(a) != ARCHIVE_OK) {
		snprintf(err, errlen, "%s: %s", name, o.err ? strerror(o.err) :
		    archive_error_string(a));
		goto fail;
	}
	if (fsync(o.fd) == -1 || close(o.fd) == -1) {
		o.fd = -1;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	o.fd = -1;
	if (renameat(outdirfd, tmp, outdirfd, name) == -1) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		goto fail;
	}
	EVP_DigestFinal_ex(o.sha, md, &mdlen);
	pkgsign_hex(md, mdlen, out->sha256);
	out->size = o.size;
	fsync(outdirfd);
	archive_entry_free(e);
	archive_write_free(a);
	EVP_MD_CTX_free(o.sha);
	free(buf);
	pkgsign_walk_free();
	return 0;
 fail:
	if (o.fd != -1)
		close(o.fd);
	if (o.fd != -1 || tmp[0] == '.')
		unlinkat(outdirfd, tmp, 0);
	archive_entry_free(e);
	archive_write_free(a);
	EVP_MD_CTX_free(o.sha);
	free(buf);
	pkgsign_walk_free();
	return -1;
}

/* The SHA-256 (lower-case hex) and size of the file on fd, from where it is. */
static int
pkgsign_hash_fd(int fd, const char *name, char *hex, uint64_t *size,
    char *err, size_t errlen)
{
	EVP_MD_CTX	*ctx;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned	 mdlen;
	char		*buf;
	ssize_t		 n;
	int		 rc = -1;

	*size = 0;
	buf = malloc(PKGSIGN_IO);
	if ((ctx = EVP_MD_CTX_new()) == NULL || buf == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	while ((n = read(fd, buf, PKGSIGN_IO)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", name, strerror(errno));
			goto done;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	pkgsign_hex(md, mdlen, hex);
	rc = 0;
 done:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

int
pkgsign_sign(const char *pki_dir, const struct pkg_statement *id,
    int outdirfd, const char *name, const char *sig_name, char *err,
    size_t errlen)
{
	const unsigned		 flags = CMS_BINARY | CMS_PARTIAL;
	struct pkg_statement	 st = *id;
	X509			*cert = NULL;
	EVP_PKEY		*key = NULL;
	CMS_ContentInfo		*cms = NULL;
	ASN1_OBJECT		*ctype = NULL;
	BIO			*in = NULL, *der = NULL;
	BUF_MEM			*mem;
	char			*text = NULL;
	size_t			 len;
	int			 fd = -1, rc = -1;

	if ((fd = openat(outdirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (pkgsign_hash_fd(fd, name, st.sha256, &st.size, err, errlen) == -1 ||
	    (text = pkgstatement_encode(&st, &len, err, errlen)) == NULL)
		goto done;
	if (pki_publisher(pki_dir, st.publisher, 0, &cert, &key, err,
	    errlen) == -1)
		goto done;
	/* The statement is the content, inside the signature, of its own
	 * type: the signed attributes then name that type too. */
	if ((in = BIO_new_mem_buf(text, (int)len)) == NULL ||
	    (der = BIO_new(BIO_s_mem())) == NULL ||
	    (ctype = OBJ_txt2obj(PKGSTATEMENT_OID, 1)) == NULL ||
	    (cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL ||
	    CMS_set1_eContentType(cms, ctype) != 1 ||
	    CMS_add1_signer(cms, cert, key, EVP_sha256(), flags) == NULL ||
	    CMS_final(cms, in, NULL, flags & ~CMS_PARTIAL) != 1 ||
	    i2d_CMS_bio(der, cms) != 1) {
		tls_error(err, errlen, "cannot sign", name);
		goto done;
	}
	BIO_get_mem_ptr(der, &mem);
	rc = atomicfile_writeat(outdirfd, sig_name, mem->data, mem->length, 0644,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err, errlen);
 done:
	BIO_free(in);
	BIO_free(der);
	CMS_ContentInfo_free(cms);
	ASN1_OBJECT_free(ctype);
	free(text);
	close(fd);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int
pkgsign_catalog(int outdirfd, const char *name, json_t *entry, char *err,
    size_t errlen)
{
	char	*text;
	int	 rc;

	if ((text = json_dumps(entry, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		snprintf(err, errlen, "%s: cannot encode the entry", name);
		return -1;
	}
	rc = atomicfile_writeat(outdirfd, name, text, strlen(text), 0644,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err, errlen);
	free(text);
	return rc;
}

int
pkgsign_extension(const struct pkgsign_ext *x, struct pkgsign_file *out,
    char *err, size_t errlen)
{
	struct pkg_statement	 id;
	json_t			*doc = NULL;
	char			 base[256], file[300], sig[300], entry[300];
	int			 dirfd = -1, rc = -1;

	if (!extreq_publisher_ok(x->publisher) || !extreq_type_ok(x->type) ||
	    !extreq_version_ok(x->version)) {
		snprintf(err, errlen, "expected a publisher of [A-Za-z0-9.] "
		    "(Contoso.Monitoring), a type of [A-Za-z0-9._-] (CustomScript) "
		    "and a version of 1 to 4 numbers (1.0)");
		return -1;
	}
	snprintf(base, sizeof(base), "%s.%s-%s", x->publisher, x->type,
	    x->version);
	snprintf(file, sizeof(file), "%s.zip", base);
	snprintf(sig, sizeof(sig), "%s.zip.p7s", base);
	snprintf(entry, sizeof(entry), "%s.json", base);
	if ((mkdir(x->outdir, 0755) == -1 && errno != EEXIST) ||
	    (dirfd = open(x->outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", x->outdir, strerror(errno));
		return -1;
	}
	memset(&id, 0, sizeof(id));
	id.kind = PKG_EXTENSION;
	snprintf(id.publisher, sizeof(id.publisher), "%s", x->publisher);
	snprintf(id.name, sizeof(id.name), "%s", x->type);
	snprintf(id.version, sizeof(id.version), "%s", x->version);
	if (pkgsign_zip_dir(x->src, dirfd, file, out, err, errlen) == -1 ||
	    pkgsign_sign(x->pki_dir, &id, dirfd, file, sig, err, errlen) == -1)
		goto done;
	if ((doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
	    "kind", "extension", "publisher", x->publisher, "type", x->type,
	    "version", x->version, "file", file, "signature", sig,
	    "sha256", out->sha256, "size", (json_int_t)out->size)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rc = pkgsign_catalog(dirfd, entry, doc, err, errlen);
 done:
	json_decref(doc);
	close(dirfd);
	return rc;
}
