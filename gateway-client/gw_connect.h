/* gw_connect.h -- one HTTP CONNECT over a bufferevent (to the gateway, or to an enterprise proxy), and its answer. */
#ifndef GW_CONNECT_H
#define GW_CONNECT_H

#include <stdint.h>

struct bufferevent;
struct gw_connect;

/* status is the answer's code (200 means the tunnel is open and bev now
 * carries it), 0 when the peer closed or failed first, -1 when the answer
 * was not HTTP.  reason is a short text for logs and error pages. */
typedef void gw_connect_cb(int status, const char *reason, void *arg);

struct gw_connect	*gw_connect_start(struct bufferevent *, const char *host,
			    uint16_t port, gw_connect_cb *, void *arg);
/* Stops waiting; the bufferevent's callbacks are cleared. */
void			 gw_connect_free(struct gw_connect *);

#endif
