/* gcsettings.h -- guestconfig.conf: how guestconfig reaches the cloud, how often it polls and evaluates, whom it trusts for packages. */
#ifndef GCSETTINGS_H
#define GCSETTINGS_H

#include <stddef.h>

#define GC_DEFAULT_PUBLISHER	"Cloudsim.GuestConfiguration"
#define GC_DEFAULT_PACKAGES_CA	"packages-ca.crt"	/* in the config dir */

struct gc_settings {
	char		*path;			/* the file, for messages */
	int		 found;			/* 0: no file, every default */
	char		*proxy;			/* "http://127.0.0.1:40343" */
	long long	 poll_seconds;		/* assignments fetched every (300) */
	long long	 evaluation_seconds;	/* test only: 0, the 15 min of Azure */
	char		*publisher;		/* the packages' signer's CN */
	char		*packages_ca;		/* absolute */
	long long	 backups;		/* backup files kept (newest) */
	long long	 cloud_timeout_seconds;
	long long	 command_timeout_seconds;	/* command_output's ceiling */
};

/* Reads <config_dir>/guestconfig.conf (a missing file means every
 * default); errors name file, line and what was expected. */
int	gc_settings_load(const char *config_dir, struct gc_settings *, char *err,
	    size_t errlen);
void	gc_settings_clear(struct gc_settings *);

#endif
