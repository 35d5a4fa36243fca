/* defaults.h -- the appliance's installed defaults in one place: ports, listen addresses, directories and file names. */
#ifndef DEFAULTS_H
#define DEFAULTS_H

#define ARC_STR_(x)		#x
#define ARC_STR(x)		ARC_STR_(x)

/* The local APIs, as Azure's agent numbers them. */
#define ARC_PORT_HIMDS		40342	/* himds: identity, metadata, tokens */
#define ARC_PORT_PROXY		40343	/* arcproxy: the forward proxy */
#define ARC_PORT_ADMIN		40344	/* arcproxy: /metrics, /healthz, /status */

#define ARC_LISTEN_HIMDS	"127.0.0.1:" ARC_STR(ARC_PORT_HIMDS)
#define ARC_LISTEN_HIMDS6	"[::1]:" ARC_STR(ARC_PORT_HIMDS)
#define ARC_LISTEN_PROXY	"127.0.0.1:" ARC_STR(ARC_PORT_PROXY)
#define ARC_LISTEN_PROXY6	"[::1]:" ARC_STR(ARC_PORT_PROXY)
#define ARC_LISTEN_ADMIN	"127.0.0.1:" ARC_STR(ARC_PORT_ADMIN)
#define ARC_URL_HIMDS		"http://" ARC_LISTEN_HIMDS
#define ARC_URL_PROXY		"http://" ARC_LISTEN_PROXY

/* cloudsim, the local stand-in for Azure. */
#define ARC_PORT_CLOUDSIM_GATEWAY	8443
#define ARC_PORT_CLOUDSIM_ECHO		8444
#define ARC_PORT_CLOUDSIM_CONTROL	8446
#define ARC_PORT_CLOUDSIM_OPERATOR	8447
#define ARC_LISTEN_CLOUDSIM_GATEWAY	"127.0.0.1:" ARC_STR(ARC_PORT_CLOUDSIM_GATEWAY)
#define ARC_LISTEN_CLOUDSIM_ECHO	"127.0.0.1:" ARC_STR(ARC_PORT_CLOUDSIM_ECHO)
#define ARC_LISTEN_CLOUDSIM_CONTROL	"127.0.0.1:" ARC_STR(ARC_PORT_CLOUDSIM_CONTROL)
#define ARC_LISTEN_CLOUDSIM_OPERATOR	"127.0.0.1:" ARC_STR(ARC_PORT_CLOUDSIM_OPERATOR)

/* Directories (--config-dir, --state-dir, --run-dir). */
#define ARC_DIR_CONFIG		"/etc/arc"
#define ARC_DIR_STATE		"/var/lib/arc"
#define ARC_DIR_RUN		"/run/arc"

/* The daemons' own subdirectories of the state and run dirs. */
#define ARC_SUBDIR_HIMDS	"himds"		/* <state>/himds */
#define ARC_SUBDIR_ARCPROXY	"arcproxy"	/* <state>/arcproxy */
#define ARC_SUBDIR_TOKENS	"tokens"	/* <run>/tokens */

/* Files: configuration in the config dir, state in the state dir. */
#define ARC_FILE_AGENT_CONF	"agent.conf"
#define ARC_FILE_ARCPROXY_CONF	"arcproxy.conf"
#define ARC_FILE_HIMDS_CONF	"himds.conf"
#define ARC_FILE_MACHINE_JSON	"machine.json"		/* <state> */
#define ARC_FILE_MACHINE_KEY	"machine.key"		/* <state>/himds */
#define ARC_FILE_MACHINE_CRT	"machine.crt"		/* <state>/himds */
#define ARC_FILE_HIMDS_JSON	"himds.json"		/* <state>/himds */
#define ARC_FILE_ACCESS_LOG	"arcproxy-access.log"	/* <state>/arcproxy */

/* guestconfig's own: <state>/guestconfig (root 0700) and its state file. */
#define ARC_SUBDIR_GUESTCONFIG	"guestconfig"
#define ARC_FILE_GUESTCONFIG_JSON "guestconfig.json"	/* <state>/guestconfig */

#endif
