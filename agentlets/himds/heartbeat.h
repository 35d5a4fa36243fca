/* heartbeat.h -- tells the cloud this machine is alive, every interval, and keeps himds.json (status, last heartbeat, last error). */
#ifndef HEARTBEAT_H
#define HEARTBEAT_H

#include <stddef.h>
#include <time.h>

struct himds;
struct himds_heartbeat;

/* Takes lastHeartbeat from an existing himds.json. */
struct himds_heartbeat	*himds_heartbeat_new(struct himds *);
void			 himds_heartbeat_free(struct himds_heartbeat *);
/* The identity changed: the status follows it, and a heartbeat goes now
 * when there is one to send. */
void			 himds_heartbeat_restart(struct himds_heartbeat *);
/* Seconds between heartbeats: himds.conf, else the cloud's, else 300. */
long long		 himds_heartbeat_interval(const struct himds *);

const char		*himds_status_name(int status);
/* "2026-11-29T06:19:55Z" */
void			 himds_rfc3339(time_t, char *buf, size_t len);

#endif
