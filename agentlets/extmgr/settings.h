/* settings.h -- extmgr.conf: how often extmgr reconciles, how it reaches the cloud, what it trusts for packages, the handlers' time limits and when a heartbeat is stale. */
#ifndef EXTMGR_SETTINGS_H
#define EXTMGR_SETTINGS_H

#include <stddef.h>

#define EXTMGR_CONF	"extmgr.conf"
#define EXTMGR_PACKAGES_CA "packages-ca.crt"	/* in the config dir */

/* The handler operations' time limits, indexed like enum manifest_op:
 * install, enable, update, disable, uninstall (the VM agent's). */
#define EXTMGR_NLIMITS	5

struct extmgr_settings {
	char		*path;			/* the file read */
	int		 found;			/* it exists */
	long long	 poll_seconds;		/* 300 */
	char		*proxy;			/* "http://127.0.0.1:40343" */
	char		*packages_ca;		/* absolute */
	char		*himds_endpoint;	/* "http://127.0.0.1:40342" */
	char		*certs_dir;		/* absolute, or NULL: <state>/extmgr/certs */
	long long	 cloud_timeout_seconds;	/* 30 */
	long long	 download_attempts;	/* 10 */
	long long	 download_backoff_ms;	/* 1000 */
	long long	 download_stall_seconds; /* 30 */
	long long	 heartbeat_stale_seconds; /* 600: an older heartbeat file
						     is "Unresponsive" */
	long long	 limit_seconds[EXTMGR_NLIMITS];
};

int	extmgr_settings_load(const char *config_dir,
	    struct extmgr_settings *, char *err, size_t errlen);
void	extmgr_settings_clear(struct extmgr_settings *);

#endif
