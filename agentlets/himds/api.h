/* api.h -- the local REST API on evhttp: instance metadata, endpoints, managed identity tokens behind the Arc challenge, agent status. */
#ifndef API_H
#define API_H

#include <stddef.h>

struct himds;
struct himds_api;

/* Listens on every address of the settings; NULL with err when one fails. */
struct himds_api	*himds_api_new(struct himds *, char *err, size_t errlen);
/* Answers the token requests still waiting for the cloud (503), then
 * closes everything. */
/* SIGTERM: token requests waiting for the cloud get 503 shutting_down
 * now, and new ones too, while the loop runs on to send them. */
void			 himds_api_stopping(struct himds_api *);
void			 himds_api_free(struct himds_api *);

#endif
