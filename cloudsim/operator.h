/* operator.h -- the operator API, the Azure portal of the stand-in: list, show and delete machines, and their extensions, over plain HTTP on loopback. */
#ifndef OPERATOR_H
#define OPERATOR_H

#include <stddef.h>

struct cloudsim;
struct operator_api;

/* Listens on control.operator_listen (loopback: simconf refuses others);
 * cs (its config, registry and stores) must outlive it. */
struct operator_api	*operator_api_new(struct cloudsim *, char *err, size_t errlen);
/* Closes the listener; connections go on until operator_api_free. */
void			 operator_api_stop(struct operator_api *);
void			 operator_api_free(struct operator_api *);

#endif
