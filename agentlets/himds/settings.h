/* settings.h -- himds.conf: where himds listens, how it reaches the cloud, its timers and its token key directory. */
#ifndef SETTINGS_H
#define SETTINGS_H

#include <stddef.h>
#include <sys/socket.h>

#define HIMDS_MAX_LISTEN	8

struct himds_settings {
	char			*path;		/* the file, for messages */
	int			 found;		/* 0: no file, every default */
	struct sockaddr_storage	 listen[HIMDS_MAX_LISTEN];
	socklen_t		 listen_len[HIMDS_MAX_LISTEN];
	int			 nlisten;
	char			*proxy;		/* "http://127.0.0.1:40343" */
	long long		 heartbeat_interval_seconds; /* 0: the cloud's */
	char			*token_key_dir;		/* absolute */
	struct sockaddr_storage	 arcproxy_admin;	/* told after a renewal */
	socklen_t		 arcproxy_admin_len;	/* 0: "", nobody told */
	long long		 token_key_lifetime_seconds;
	long long		 cloud_timeout_seconds;
};

/* Reads <config_dir>/himds.conf (a missing file means every default);
 * a relative token_key_dir is under run_dir.  Errors name file, line and
 * what was expected. */
int	himds_settings_load(const char *config_dir, const char *run_dir,
	    struct himds_settings *, char *err, size_t errlen);
void	himds_settings_clear(struct himds_settings *);

#endif
