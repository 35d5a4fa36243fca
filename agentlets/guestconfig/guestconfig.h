/* guestconfig.h -- the machine configuration agentlet's one context: its settings, the machine identity, the assignments and their timers. */
#ifndef GUESTCONFIG_H
#define GUESTCONFIG_H

#include <sys/queue.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "agentconf.h"
#include "defaults.h"
#include "gclist.h"
#include "gcsettings.h"

#define GC_OWN_DIR		ARC_SUBDIR_GUESTCONFIG	/* <state>/guestconfig, root 0700 */
#define GC_STATE_FILE		ARC_FILE_GUESTCONFIG_JSON /* in it: assignments and results */
#define GC_CHANGE_LOG		"changes.log"		/* in it: one line per change */
#define GC_BACKUP_DIR		"backup"		/* in it: files as they were */
#define GC_PACKAGE_DIR		"packages"		/* in it: downloads, unpacked */
#define GC_REFUSED_FILE		"refused.json"		/* in it: packages refused */
#define GC_NOTIFY_TOPIC		"guestConfiguration"	/* <run>/notify/<topic> */
#define GC_OFFLINE_KEEP		(14 * 24 * 3600)	/* assignments kept unreachable */

struct event;
struct event_base;
struct gc_fetch;
struct gc_post;
struct httpc_req;
struct httpc_resp;
struct himds_machine;
struct httpc;
struct notifywatch;



struct gc {
	struct event_base	*base;
	const char		*config_dir;
	const char		*state_dir;
	const char		*run_dir;
	int			 own_fd;	/* <state>/guestconfig */
	int			 pkg_fd;	/* <own>/packages */
	int			 backup_fd;	/* <own>/backup */
	int			 log_fd;	/* <own>/changes.log, O_APPEND */
	struct gc_settings	 settings;
	struct agentconf	 agent;
	char			 disabled[128];	/* "": local settings allow it; else why not */
	struct himds_machine	*machine;	/* NULL: not connected */
	struct httpc		*httpc;
	struct gc_assignments	 assignments;	/* in the cloud's order */
	int			 nassignments;
	time_t			 last_fetch;	/* wall clock of the last list; 0: never */
	time_t			 last_poll;
	char			 poll_error[512];
	long long		 goal_seq;
	int			 polling;	/* a GET of the list is under way */
	struct gc_fetch		*fetch;		/* the package download under way */
	struct gc_post		*posts;		/* reports being sent */
	struct event		*poll_timer;
	struct timespec		 poll_started;	/* the timer's last poll, CLOCK_MONOTONIC */
	struct event		*eval_timer;
	struct notifywatch	*notify;	/* <run>/notify/guestConfiguration */
};

/* assign.c: the list from the cloud, kept in the state file. */
void	gc_assign_load(struct gc *);
int	gc_assign_save(struct gc *);
void	gc_assign_poll(struct gc *);
void	gc_assign_clear(struct gc *);
void	gc_cloud_req(struct gc *, struct httpc_req *, const char *method,
	    const char *url);
void	gc_cloud_error(const struct httpc_resp *, char *out, size_t outlen);
void	gc_time_text(const struct timespec *, char *buf, size_t len);

/* package.c: one package at a time, downloaded and checked in a thread. */
void	gc_package_fetch_next(struct gc *);
void	gc_package_stop(struct gc *);
void	gc_refused_apply(struct gc *);

/* evaluate.c: the schedule, one assignment at a time, and its report. */
void	gc_eval_schedule(struct gc *);
void	gc_eval_all_due(struct gc *);
void	gc_report_send(struct gc *, struct gc_assignment *);
void	gc_report_resend(struct gc *);
void	gc_report_stop(struct gc *);

/* guestconfig.c */
void	gc_local_controls(struct gc *);

#endif
