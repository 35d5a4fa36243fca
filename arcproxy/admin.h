/* admin.h -- the admin listener: GET /metrics (Prometheus text) and GET /healthz, served from the main thread. */
#ifndef ADMIN_H
#define ADMIN_H

#include <stddef.h>

struct admin;
struct proxy;

struct admin	*admin_new(struct proxy *, char *err, size_t errlen);
void		 admin_free(struct admin *);

#endif
