/* admin.h -- the admin listener: GET /metrics (Prometheus text), GET /healthz, GET /status (JSON) and POST /identity/reload, served from the main thread. */
#ifndef ADMIN_H
#define ADMIN_H

#include <stddef.h>

struct admin;
struct proxy;

#define ADMIN_RELOAD_GROUP	"arc"	/* besides root and arcproxy's user */

struct admin	*admin_new(struct proxy *, char *err, size_t errlen);
void		 admin_free(struct admin *);

/* What SIGHUP does (arcproxy.c): the configuration and the machine
 * identity read again.  POST /identity/reload calls it for root, arcproxy's
 * own uid and members of ADMIN_RELOAD_GROUP (himds after a renewal). */
void		 arcproxy_reload(struct proxy *);

#endif
