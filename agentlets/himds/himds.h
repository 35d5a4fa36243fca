/* himds.h -- the identity agentlet's one context: its settings, the machine identity, its status, and the parts that serve and call out. */
#ifndef HIMDS_H
#define HIMDS_H

#include <time.h>

#include "agentconf.h"
#include "version.h"
#include "settings.h"

#define HIMDS_USER		"himds"
#define HIMDS_AGENT_VERSION	ARC_AGENT_VERSION
#define HIMDS_DEFAULT_INTERVAL	300	/* heartbeat seconds when nobody says */

struct event;
struct event_base;
struct himds_api;
struct himds_challenge;
struct himds_cloud;
struct himds_heartbeat;
struct himds_machine;
struct himds_renew;

enum himds_status {
	HIMDS_DISCONNECTED,	/* no identity, or the last heartbeat failed */
	HIMDS_CONNECTED,	/* the cloud answered the last heartbeat */
	HIMDS_EXPIRED,		/* the machine certificate is past its notAfter */
};

struct himds {
	struct event_base	*base;
	const char		*config_dir;
	const char		*state_dir;	/* root's: machine.json */
	const char		*run_dir;	/* pid file, token keys */
	char			*own_dir;	/* <state>/himds, himds's */
	int			 own_fd;	/* own_dir, opened O_NOFOLLOW */
	struct himds_settings	 settings;	/* himds.conf */
	struct agentconf	 agent;		/* agent.conf */
	struct himds_machine	*machine;	/* NULL: not connected */
	unsigned		 machine_gen;	/* bumped each time it is re-read */
	char			 machine_error[512]; /* why machine is NULL */
	struct himds_cloud	*cloud;		/* HTTPS to the control plane */
	struct himds_api	*api;		/* the local REST API */
	struct himds_challenge	*challenge;	/* the token API's key files */
	struct himds_heartbeat	*heartbeat;
	struct himds_renew	*renew;
	enum himds_status	 status;
	time_t			 last_heartbeat; /* last one answered; 0: never */
	char			 last_error[512]; /* "": the last call worked */
	long long		 cloud_interval; /* the cloud's last say */
};

/* Reads the identity in the state dir again (finishing an interrupted
 * renewal first), then restarts the heartbeat and re-arms the renewal. */
void	himds_identity_reload(struct himds *);

#endif
