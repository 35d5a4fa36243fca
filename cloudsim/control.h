/* control.h -- the control plane (management.cloudsim.test): register, heartbeat, certificate renewal, access tokens and DELETE, over HTTPS with machine certificates. */
#ifndef CONTROL_H
#define CONTROL_H

#include <stddef.h>

struct cloudsim;
struct control;
struct simconf;

#define CONTROL_MAX_BODY	65536	/* bytes of a request body (else 413) */

/* -n: the TLS context (services.crt, ca.crt) loads and ca.key can sign
 * certificates and ES256 tokens. */
int		 control_check(const struct simconf *, char *err, size_t errlen);
/* Listens on control.listen; cs (its config, registry and stores) must
 * outlive it. */
struct control	*control_new(struct cloudsim *, char *err, size_t errlen);
/* Closes the listener; connections go on until control_free. */
void		 control_stop(struct control *);
void		 control_free(struct control *);

#endif
