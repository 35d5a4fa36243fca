/* echo.h -- echo.cloudsim.test: a TLS HTTP/1.1 service that reflects requests, streams patterned bytes and hashes uploads. */
#ifndef ECHO_H
#define ECHO_H

#include <stddef.h>

#include <openssl/ssl.h>

#define ECHO_BYTES_MAX		(1ULL << 30)	/* largest /bytes/N */

struct echo;
struct event_base;
struct simconf;

/* The service's TLS context (services.crt). */
SSL_CTX		*echo_tls(const struct simconf *, char *err, size_t errlen);
/* Listens on echo.listen. */
struct echo	*echo_new(struct event_base *, const struct simconf *, char *err,
		    size_t errlen);
void		 echo_free(struct echo *);

#endif
