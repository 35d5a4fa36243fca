/* proxy.h -- the process: its configuration, workers, admin listener and signal handling. */
#ifndef PROXY_H
#define PROXY_H

#include <time.h>

struct accesslog;
struct admin;
struct config;
struct event;
struct event_base;
struct worker;

struct proxy {
	const char		*config_dir;
	const char		*state_dir;
	const char		*run_dir;	/* pid file */
	struct event_base	*base;		/* main thread: signals, admin */
	struct config		*cfg;
	unsigned long		 cfg_generation;	/* 1 at start, +1 per reload */
	time_t			 cfg_loaded;	/* when cfg was read (wall clock) */
	struct accesslog	*alog;
	struct worker		*workers;
	int			 nworkers;
	struct admin		*admin;
	int			 nconns;	/* atomic: client connections, all workers */
	long long		 nofile;	/* RLIMIT_NOFILE once raised (fdlimit) */
	struct event		*sig_hup, *sig_term, *sig_int;
};

#endif
