/* operator.h -- the operator API, the Azure portal of the stand-in: list, show and delete machines over plain HTTP on loopback. */
#ifndef OPERATOR_H
#define OPERATOR_H

#include <stddef.h>

struct event_base;
struct operator_api;
struct registry;
struct simconf;

/* Listens on control.operator_listen (loopback: simconf refuses others);
 * cfg and registry must outlive it. */
struct operator_api	*operator_api_new(struct event_base *, const struct simconf *,
			    struct registry *, char *err, size_t errlen);
/* Remote sessions and notifications: POST /operator/machines/NAME/sessions
 * (sessions.c) and /goalState (notify.c). */
struct notify_service;
struct sessions;
void			 operator_api_sessions(struct operator_api *, struct sessions *,
			    struct notify_service *);
/* Closes the listener; connections go on until operator_api_free. */
void			 operator_api_stop(struct operator_api *);
void			 operator_api_free(struct operator_api *);

#endif
