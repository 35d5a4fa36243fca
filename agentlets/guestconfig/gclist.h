/* gclist.h -- the cloud's list of guest configuration assignments, read and checked into guestconfig's own records (no I/O: the fuzzer drives it). */
#ifndef GCLIST_H
#define GCLIST_H

#include <sys/queue.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define GC_MAX_ASSIGNMENTS	50
#define GC_NAME_MAX		64

enum gc_type {
	GC_AUDIT,		/* tests and reports; never writes */
	GC_APPLY_MONITOR,	/* applies once, then only reports */
	GC_APPLY_CORRECT,	/* applies at every drift */
};

enum gc_pkg {
	GC_PKG_NONE,		/* not fetched for this contentHash */
	GC_PKG_FETCHING,	/* download and check under way */
	GC_PKG_READY,		/* verified and unpacked in packages/<dir> */
	GC_PKG_REFUSED,		/* refused: pkg_error says why; see refused.json */
};

struct gc_assignment {
	TAILQ_ENTRY(gc_assignment) entry;
	char		 name[GC_NAME_MAX];
	char		*content_uri;
	char		 content_hash[65];	/* lower-case hex */
	enum gc_type	 type;
	json_t		*params;		/* configurationParameter, an array */
	char		*version;		/* NULL: none */
	enum gc_pkg	 pkg;
	char		 pkg_error[512];
	char		 dir[GC_NAME_MAX + 24];	/* packages/<name>-<hash 16> */
	char		*config_name;		/* from metadata.json */
	char		*config_version;
	struct timespec	 due;			/* CLOCK_MONOTONIC: next evaluation */
	time_t		 last_eval;		/* wall clock; 0: never */
	char		 status[16];		/* Compliant, NonCompliant, Pending, "" */
	char		 last_error[512];
	int		 applied;		/* ApplyAndMonitor: the one apply is done */
	int		 reported;		/* a report went for this content: Consistency */
	json_t		*unsent;		/* the last report, while not accepted */
};

TAILQ_HEAD(gc_assignments, gc_assignment);

/* "Audit", "ApplyAndMonitor", "ApplyAndAutoCorrect" */
const char	*gc_type_name(enum gc_type);
/* [A-Za-z0-9][A-Za-z0-9-_.]{0,62}: an assignment's (or configuration's) name. */
int		 gc_name_ok(const char *);
/*
 * One assignment of the list (or of the state file): the contract's fields,
 * checked (name, https:// contentUri, 64 hex digits of contentHash, the
 * type, configurationParameter an array).  NULL with why filled.
 */
struct gc_assignment *gc_assign_parse(json_t *, char *why, size_t whylen);
void		 gc_assign_free(struct gc_assignment *);
/* Same type, parameters and version? */
int		 gc_same_params(const struct gc_assignment *,
		    const struct gc_assignment *);
/*
 * The answer of GET /machines/M/guestConfigurationAssignments, {"goalStateSeq",
 * "assignments": [...]}, into out (empty on entry), in its order: entries
 * that are not valid are skipped (why: the first one's reason, else ""), a
 * second entry of a name too, and at most GC_MAX_ASSIGNMENTS are kept.
 * Returns how many, or -1 with why filled when the answer is not of that
 * shape.
 */
int		 gc_list_parse(const char *text, size_t len,
		    struct gc_assignments *out, long long *seq, char *why,
		    size_t whylen);
void		 gc_list_clear(struct gc_assignments *);

#endif
