/* packages.c -- packages.cloudsim.test: the package store, the files of packages.dir over HTTPS with Range, ETag and HEAD. */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "httpd.h"
#include "log.h"
#include "packages.h"
#include "pki.h"
#include "simconf.h"
#include "tls.h"

#define PACKAGES_MAX_BODY	0	/* GET and HEAD carry none */
#define PACKAGES_ETAG_MAX	80

struct packages {
	const struct simconf	*cfg;
	char			*dir;		/* the files served */
	struct httpd		*httpd;
};

static void	packages_get(void *, struct httpd_request *, const char *);

static const struct httpd_route packages_routes[] = {
	{ "GET", "/packages/{}", packages_get },
	{ "HEAD", "/packages/{}", packages_get },
	{ NULL, NULL, NULL }
};

/* Content types by file name suffix; the last row catches the rest. */
static const struct {
	const char	*suffix;
	const char	*type;
} packages_types[] = {
	{ ".zip", "application/zip" },
	{ ".p7s", "application/pkcs7-signature" },
	{ ".json", "application/json" },
	{ "", "application/octet-stream" },
};

int
packages_name_ok(const char *name)
{
	size_t	len = strlen(name), i;

	if (len == 0 || len > PACKAGES_NAME_MAX || name[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return 0;
	return 1;
}

static const char *
packages_type(const char *name)
{
	size_t	len = strlen(name), n, i;

	for (i = 0; ; i++) {
		n = strlen(packages_types[i].suffix);
		if (n <= len && strcmp(name + len - n, packages_types[i].suffix) == 0)
			return packages_types[i].type;
	}
}

/* Decimal digits to *out; the end of them, or NULL when none or too many. */
static const char *
packages_number(const char *s, unsigned long long *out)
{
	unsigned long long	v = 0;
	const char		*start = s;

	while (isdigit((unsigned char)*s)) {
		if (v > (~0ULL - 9) / 10)
			return NULL;
		v = v * 10 + (unsigned long long)(*s++ - '0');
	}
	*out = v;
	return s == start ? NULL : s;
}

int
packages_range(const char *h, unsigned long long size, unsigned long long *first,
    unsigned long long *last)
{
	unsigned long long	a, b;
	const char		*p;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0)
		return 1;
	p = h + 6;
	while (*p == ' ')
		p++;
	if (*p == '-') {
		/* A suffix: the last b bytes. */
		if ((p = packages_number(p + 1, &b)) == NULL)
			return 1;
		while (*p == ' ')
			p++;
		if (*p != '\0')
			return 1;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 0;
	}
	if ((p = packages_number(p, &a)) == NULL || *p++ != '-')
		return 1;
	b = ~0ULL;
	if (isdigit((unsigned char)*p) && (p = packages_number(p, &b)) == NULL)
		return 1;
	while (*p == ' ')
		p++;
	if (*p != '\0' || b < a)
		return 1;	/* several ranges, or an invalid one: ignored */
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 0;
}

/* GET|HEAD /packages/{name}: the file, whole or one range of it. */
static void
packages_get(void *arg, struct httpd_request *req, const char *name)
{
	struct packages		*pk = arg;
	struct stat		 st;
	unsigned long long	 first = 0, last = 0, size;
	char			 etag[PACKAGES_ETAG_MAX], range[128], if_range[128];
	int			 dirfd = -1, fd = -1, whole;

	if (!packages_name_ok(name)) {
		httpd_error(req, 400, "InvalidPackageName", "%.64s: a package "
		    "name has 1-%d of [A-Za-z0-9._-] and does not start with a "
		    "dot", name, PACKAGES_NAME_MAX);
		return;
	}
	if ((dirfd = open(pk->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("%s", pk->dir);
		httpd_error(req, 500, "InternalError", "the package store is "
		    "not readable");
		return;
	}
	/* Only a regular file of the directory itself: never a symlink. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dirfd);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		if (fd == -1 && errno != ENOENT && errno != ELOOP)
			log_warn("%s/%s", pk->dir, name);
		httpd_error(req, 404, "PackageNotFound", "no package named %s",
		    name);
		goto done;
	}
	size = (unsigned long long)st.st_size;
	snprintf(etag, sizeof(etag), "\"%llx-%llx%09lx-%llx\"", size,
	    (unsigned long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
	    (unsigned long long)st.st_ino);
	whole = 1;
	if (httpd_header(req, "range", range, sizeof(range)) >= 0 &&
	    (httpd_header(req, "if-range", if_range, sizeof(if_range)) < 0 ||
	    strcmp(if_range, etag) == 0))
		whole = packages_range(range, size, &first, &last);
	if (whole == -1) {
		httpd_add_header(req, "Content-Range: bytes */%llu", size);
		httpd_error(req, 416, "RangeNotSatisfiable", "%s has %llu bytes; "
		    "the range \"%.64s\" starts past its end", name, size, range);
		goto done;
	}
	httpd_add_header(req, "Accept-Ranges: bytes");
	httpd_add_header(req, "ETag: %s", etag);
	if (whole) {
		httpd_reply_file(req, 200, packages_type(name), fd, 0, size);
		snprintf(req->note, sizeof(req->note), "%s, %llu bytes", name, size);
	} else {
		httpd_add_header(req, "Content-Range: bytes %llu-%llu/%llu", first,
		    last, size);
		httpd_reply_file(req, 206, packages_type(name), fd, first,
		    last - first + 1);
		snprintf(req->note, sizeof(req->note), "%s, bytes %llu-%llu of "
		    "%llu", name, first, last, size);
	}
	fd = -1;	/* httpd's now */
 done:
	if (fd != -1)
		close(fd);
}

static void
packages_serve(void *arg, struct httpd_request *req)
{
	const struct httpd_route	*r;
	char				 name[HTTPD_ARG_MAX];

	if ((r = httpd_route(packages_routes, req, name, sizeof(name))) != NULL)
		r->fn(arg, req, name);
}

/* The store's TLS context: services.crt, HTTP/1.1. */
static SSL_CTX *
packages_tls(const struct simconf *cfg, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if ((ctx = pki_server_ctx(cfg->pki_dir, "services", err, errlen)) != NULL)
		tls_server_alpn(ctx, TLS_ALPN_HTTP11);
	return ctx;
}

int
packages_check(const struct simconf *cfg, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if ((ctx = packages_tls(cfg, err, errlen)) == NULL)
		return -1;
	SSL_CTX_free(ctx);
	return 0;
}

struct packages *
packages_new(struct event_base *base, const struct simconf *cfg,
    const char *dir, char *err, size_t errlen)
{
	struct packages	*pk;
	SSL_CTX		*ctx;

	if ((pk = calloc(1, sizeof(*pk))) == NULL ||
	    (pk->dir = strdup(dir)) == NULL) {
		free(pk);
		snprintf(err, errlen, "packages: out of memory");
		return NULL;
	}
	pk->cfg = cfg;
	if ((ctx = packages_tls(cfg, err, errlen)) == NULL)
		goto fail;
	if ((pk->httpd = httpd_new(base, "packages",
	    (const struct sockaddr *)&cfg->packages.listen,
	    cfg->packages.listen_len, ctx, PACKAGES_MAX_BODY, packages_serve, pk,
	    err, errlen)) == NULL)
		goto fail;
	return pk;
 fail:
	packages_free(pk);
	return NULL;
}

void
packages_stop(struct packages *pk)
{
	if (pk != NULL)
		httpd_stop(pk->httpd);
}

void
packages_free(struct packages *pk)
{
	if (pk == NULL)
		return;
	httpd_free(pk->httpd);
	free(pk->dir);
	free(pk);
}
