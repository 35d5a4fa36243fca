/* cloud.h -- calls to the control plane as this machine: JSON POSTs to cloudUrl through arcproxy, with the machine certificate. */
#ifndef CLOUD_H
#define CLOUD_H

#include <jansson.h>

struct event_base;
struct himds;
struct himds_cloud;

/* status is the HTTP status (0: no answer); answer the parsed JSON body or
 * NULL; error is "" for a 2xx, else why, for logs and himds.json. */
typedef void himds_cloud_cb(struct himds *, long status, json_t *answer,
    const char *error, void *arg);

struct himds_cloud	*himds_cloud_new(struct himds *);
/* Cancels the calls under way: their callbacks are not called. */
void			 himds_cloud_free(struct himds_cloud *);
/* POST <cloudUrl>/machines/<name>/<op> with body; -1 when there is no
 * identity or the call cannot start. */
int			 himds_cloud_post(struct himds_cloud *, const char *op,
			    json_t *body, himds_cloud_cb *, void *arg);

#endif
