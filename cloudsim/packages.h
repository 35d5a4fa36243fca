/* packages.h -- packages.cloudsim.test: the package store, the files of packages.dir over HTTPS with Range, ETag and HEAD. */
#ifndef PACKAGES_H
#define PACKAGES_H

#include <stddef.h>

struct event_base;
struct packages;
struct simconf;

#define PACKAGES_NAME_MAX	255	/* a file name in the store */

/* -n: the TLS context (services.crt) loads. */
int		 packages_check(const struct simconf *, char *err, size_t errlen);
/* Listens on packages.listen and serves the files of dir (which must exist). */
struct packages	*packages_new(struct event_base *, const struct simconf *,
		    const char *dir, char *err, size_t errlen);
/* Closes the listener; connections go on until packages_free. */
void		 packages_stop(struct packages *);
void		 packages_free(struct packages *);

/* Is name a file name the store serves ([A-Za-z0-9._-], not starting with a dot)? */
int		 packages_name_ok(const char *name);

/*
 * A Range header against a file of size bytes: 0 and [*first, *last]
 * for one satisfiable range, 1 when the whole file is due (no range, a
 * malformed one or several: RFC 9110 lets a server ignore them), -1 when
 * unsatisfiable (416).
 */
int		 packages_range(const char *header, unsigned long long size,
		    unsigned long long *first, unsigned long long *last);

#endif
