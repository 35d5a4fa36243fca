/* agentlet.h -- the daemon every agentlet is: the common flags, its conf and agent.conf (read again on SIGHUP), daemon(), signals, the pid file, the privilege drop; an agentlet is a table and callbacks. */
#ifndef AGENTLET_H
#define AGENTLET_H

#include <stddef.h>

#include "privdrop.h"

#define AGENTLET_CURL		0x01	/* curl_global_init() before start() */

#define AGENTLET_NO_AGENT	((size_t)-1)	/* agent.conf checked, not kept */

struct agentlet;
struct event;
struct event_base;

/* The settings at member m of the context (a ctype), with its path and
 * found, for struct agentlet_ops. */
#define AGENTLET_SETTINGS(ctype, m)				\
	.settings_size = sizeof(((ctype *)NULL)->m),		\
	.settings_offset = offsetof(ctype, m),			\
	.path_offset = offsetof(ctype, m.path),			\
	.found_offset = offsetof(ctype, m.found)

/*
 * What makes one agentlet.  Its context (ctx) holds its own conf's struct
 * (settings_size bytes at settings_offset, with the path of the file read
 * and whether it was there) and, unless agent_offset is
 * AGENTLET_NO_AGENT, a struct agentconf at agent_offset: both are read
 * before start and replaced whole by a good reading on SIGHUP.
 */
struct agentlet_ops {
	const char	*name;		/* "himds": messages, logs, <run>/<name>.pid */
	const char	*user;		/* root becomes this user; NULL: stays root */
	int		 flags;		/* AGENTLET_CURL */
	size_t		 settings_size;		/* AGENTLET_SETTINGS() */
	size_t		 settings_offset;
	size_t		 path_offset;		/* its char *path: the file */
	size_t		 found_offset;		/* its int found: it was there */
	size_t		 agent_offset;
	/* Its own conf into s (zeroed): 0, or -1 with err and s cleared. */
	int		(*settings_load)(const struct agentlet *, void *s,
			    char *err, size_t errlen);
	void		(*settings_clear)(void *s);
	/* SIGHUP, a good reading: moves what only a restart changes from the
	 * running settings (old, cleared next) to the new.  May be NULL. */
	void		(*reload_keep)(void *ctx, void *news, void *old);
	/* After SIGHUP: ok is 1 when the new reading took the old's place
	 * (the agentlet says so), 0 when it was refused (already said).  Its
	 * own conf refused, agent.conf is still taken when it reads well, and
	 * ok is 1 with the running settings unchanged: the local controls
	 * always apply. */
	void		(*reloaded)(void *ctx, int ok);
	/* In the event loop, before the pid file and the privilege drop:
	 * directories, events, objects; fatal() on what stops it. */
	void		(*start)(struct agentlet *);
	/* After the drop: what it says it is doing, and its first work. */
	void		(*started)(void *ctx);
	/* SIGTERM or SIGINT, before the loop ends.  May be NULL.  The loop
	 * runs stop_grace_ms more (answers it gave go out), then ends. */
	void		(*stopping)(void *ctx);
	int		  stop_grace_ms;
	/* After the loop: frees what start() made. */
	void		(*stop)(void *ctx);
};

/* What start() sees; its layout is the API. */
struct agentlet {
	const struct agentlet_ops	*ops;
	void				*ctx;
	struct event_base		*base;
	char				*config_dir;	/* absolute */
	char				*state_dir;	/* absolute (-n: as given if missing) */
	char				*run_dir;	/* absolute (-n: as given if missing) */
	struct privdrop_user		 user;
	const struct privdrop_user	*as;		/* who it becomes; NULL: stays */
	struct event			*sig_hup;
	struct event			*sig_term;
	struct event			*sig_int;
};

/*
 * The whole program: the flags (usage and exit 2 on a wrong one, as
 * daemon_parse_args()), the directories, the conf (a one-line reason and
 * exit 1 when it is wrong), -n, then the daemon until SIGTERM.  ctx is
 * zeroed but for what the agentlet sets first (fds at -1, lists).
 * Returns the exit code.
 */
int	agentlet_main(int argc, char *argv[], const struct agentlet_ops *,
	    void *ctx);

#endif
