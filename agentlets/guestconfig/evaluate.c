/* evaluate.c -- guestconfig's schedule: each assignment evaluated in turn by the engine (Test, Set when its mode applies, Get), and its report sent to the cloud. */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "atomicfile.h"
#include "engine.h"
#include "guestconfig.h"
#include "httpc.h"
#include "log.h"
#include "machine.h"

#define GC_FREQUENCY_MINS	15	/* configurationModeFrequencyMins */

/* A report on its way to the cloud. */
struct gc_post {
	struct gc	*gc;
	struct gc_post	*next;
	char		 name[GC_NAME_MAX];
	char		 report_id[40];
	char		*body;		/* curl reads it until the end */
};

static long long
gc_period(const struct gc *gc)
{
	if (gc->settings.evaluation_seconds > 0)
		return gc->settings.evaluation_seconds;
	return GC_FREQUENCY_MINS * 60;
}

static int
gc_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec &&
	    a->tv_nsec <= b->tv_nsec);
}

/* Can it be evaluated (or reported on) now, package-wise? */
static int
gc_ready(const struct gc *gc, const struct gc_assignment *a)
{
	return gc->disabled[0] != '\0' || a->pkg == GC_PKG_READY ||
	    a->pkg == GC_PKG_REFUSED;
}

/* Arms the timer for the first assignment that is due. */
void
gc_eval_schedule(struct gc *gc)
{
	struct gc_assignment	*a, *first = NULL;
	struct timespec		 now;
	struct timeval		 tv;
	long long		 ms;

	TAILQ_FOREACH(a, &gc->assignments, entry)
		if (gc_ready(gc, a) && (first == NULL || !gc_before(&first->due,
		    &a->due)))
			first = a;
	if (first == NULL) {
		evtimer_del(gc->eval_timer);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (first->due.tv_sec - now.tv_sec) * 1000LL +
	    (first->due.tv_nsec - now.tv_nsec) / 1000000;
	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(gc->eval_timer, &tv);
}

static void
gc_uuid(char out[37])
{
	unsigned char	b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
	    b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* One resource standing for the whole assignment: refused or disabled. */
static json_t *
gc_whole(const struct gc_assignment *a, const char *status, const char *code,
    const char *phrase)
{
	char	id[GC_NAME_MAX + 16];

	snprintf(id, sizeof(id), "[assignment]%s", a->name);
	return json_pack("[{s:s, s:[{s:s, s:s}], s:{s:s}}]", "complianceStatus",
	    status, "reasons", "code", code, "phrase", phrase, "properties",
	    "ResourceId", id);
}

/*
 * The report in the REST shape (ARC-FACTS): complianceStatus, reportId,
 * assignment{name, configuration{name, version}}, startTime, endTime,
 * details{complianceStatus, operationType, resources}.
 */
static json_t *
gc_report(const struct gc_assignment *a, const char *status,
    const struct timespec *start, json_t *resources)
{
	struct timespec	end;
	char		id[37], st[40], et[40];

	clock_gettime(CLOCK_REALTIME, &end);
	gc_uuid(id);
	gc_time_text(start, st, sizeof(st));
	gc_time_text(&end, et, sizeof(et));
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:s, s:s, s:s, "
	    "s:{s:s, s:s, s:o}}",
	    "complianceStatus", status, "reportId", id,
	    "assignment", "name", a->name, "configuration",
	    "name", a->config_name ? a->config_name : a->name,
	    "version", a->config_version ? a->config_version :
	    a->version ? a->version : "",
	    "assignmentType", gc_type_name(a->type),
	    "startTime", st, "endTime", et,
	    "details", "complianceStatus", status, "operationType",
	    a->reported ? "Consistency" : "Initial", "resources", resources);
}

/* Keeps the newest settings.backups files of backup/, by mtime. */
static void
gc_prune_backups(struct gc *gc)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	struct {
		char	name[256];
		time_t	mtime;
		long	nsec;
	}		*list = NULL, *p;
	size_t		 n = 0, cap = 0, i, j, oldest;
	int		 fd;

	if ((fd = dup(gc->backup_fd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (fstatat(gc->backup_fd, de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode) ||
		    strlen(de->d_name) >= sizeof(list->name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((p = reallocarray(list, cap, sizeof(*list))) == NULL)
				break;
			list = p;
		}
		snprintf(list[n].name, sizeof(list[n].name), "%s", de->d_name);
		list[n].mtime = st.st_mtim.tv_sec;
		list[n].nsec = st.st_mtim.tv_nsec;
		n++;
	}
	closedir(d);
	while (n > (size_t)gc->settings.backups) {
		for (oldest = 0, j = 1; j < n; j++)
			if (list[j].mtime < list[oldest].mtime ||
			    (list[j].mtime == list[oldest].mtime &&
			    list[j].nsec < list[oldest].nsec))
				oldest = j;
		unlinkat(gc->backup_fd, list[oldest].name, 0);
		for (i = oldest; i + 1 < n; i++)
			list[i] = list[i + 1];
		n--;
	}
	free(list);
}

/*
 * A run that changed the machine reports what it found, as DSC's
 * consistency check does: the drift (NonCompliant, with the reasons found
 * and the changes made), and the next run says Compliant.
 */
static void
gc_drift_found(json_t *result)
{
	json_t	*res;
	size_t	 i;

	json_array_foreach(json_object_get(result, "resources"), i, res)
		if (json_array_size(json_object_get(res, "changes")) > 0)
			json_object_set_new(res, "complianceStatus",
			    json_string("NonCompliant"));
}

/* The configuration document of a's unpacked package, parsed with its
 * parameters; NULL with err. */
static struct gc_doc *
gc_load_doc(struct gc *gc, const struct gc_assignment *a, char *err,
    size_t errlen)
{
	struct gc_doc	*doc;
	char		*text, name[GC_NAME_MAX + 8], why[256];
	size_t		 len;
	int		 dfd;

	if ((dfd = openat(gc->pkg_fd, a->dir, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "the unpacked package: %s", strerror(errno));
		return NULL;
	}
	snprintf(name, sizeof(name), "%s.json", a->config_name);
	text = atomicfile_readat(dfd, name, GC_DOC_MAX_SIZE, &len, why,
	    sizeof(why));
	close(dfd);
	if (text == NULL) {
		snprintf(err, errlen, "%s", why);
		return NULL;
	}
	doc = gc_doc_parse(text, len, a->params, err, errlen);
	free(text);
	return doc;
}

/* agent.conf watched during one evaluation, for the kill switch. */
struct gc_stopper {
	struct gc	*gc;
	struct stat	 st;		/* agent.conf as last read */
	char		 reason[256];	/* set once it says stop */
};

/*
 * Between resources: agent.conf read again when it changed (one stat
 * otherwise), and the evaluation stopped when it now turns guest
 * configuration off -- before SIGHUP, which only the loop hears once the
 * assignment is done.  Only off counts here: turning on waits for SIGHUP.
 */
static int
gc_stop_check(void *arg)
{
	struct gc_stopper	*sp = arg;
	struct agentconf	 ac;
	struct stat		 st;
	char			 path[PATH_MAX], err[256];

	if (sp->reason[0] != '\0')
		return 1;
	snprintf(path, sizeof(path), "%s/" ARC_FILE_AGENT_CONF,
	    sp->gc->config_dir);
	if (stat(path, &st) == -1)
		memset(&st, 0, sizeof(st));
	if (st.st_ino == sp->st.st_ino && st.st_size == sp->st.st_size &&
	    st.st_mtim.tv_sec == sp->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == sp->st.st_mtim.tv_nsec &&
	    st.st_ctim.tv_nsec == sp->st.st_ctim.tv_nsec)
		return 0;
	sp->st = st;
	memset(&ac, 0, sizeof(ac));
	if (agentconf_load(sp->gc->config_dir, &ac, err, sizeof(err)) == -1)
		return 0;	/* a broken one: SIGHUP will say so */
	if (!ac.guestconfiguration_enabled)
		snprintf(sp->reason, sizeof(sp->reason), "disabled by local "
		    "configuration: guestconfiguration.enabled is false");
	else if (ac.config_mode == AGENTCONF_MODE_MONITOR)
		snprintf(sp->reason, sizeof(sp->reason), "disabled by local "
		    "configuration: config.mode is monitor");
	agentconf_clear(&ac);
	if (sp->reason[0] != '\0')
		log_info("%s: the evaluation under way stops", sp->reason);
	return sp->reason[0] != '\0';
}

/* One evaluation of a: its report, or NULL when out of memory. */
static json_t *
gc_evaluate_one(struct gc *gc, struct gc_assignment *a)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	struct gc_stopper stopper;
	struct timespec	 start;
	json_t		*result, *report;
	const char	*status;
	char		 err[512], phrase[700], path[PATH_MAX];
	long long	 changed;

	clock_gettime(CLOCK_REALTIME, &start);
	a->last_eval = start.tv_sec;
	if (gc->disabled[0] != '\0') {
		snprintf(a->last_error, sizeof(a->last_error), "%s", gc->disabled);
		return gc_report(a, "Pending", &start, gc_whole(a, "Pending",
		    "GC::LOCAL::DISABLED", gc->disabled));
	}
	if (a->pkg == GC_PKG_REFUSED) {
		snprintf(a->last_error, sizeof(a->last_error), "package refused: "
		    "%.440s", a->pkg_error);
		snprintf(phrase, sizeof(phrase), "package %s refused: %s",
		    a->content_uri, a->pkg_error);
		return gc_report(a, "NonCompliant", &start, gc_whole(a,
		    "NonCompliant", "GC::PACKAGE::REFUSED", phrase));
	}
	if ((doc = gc_load_doc(gc, a, err, sizeof(err))) == NULL) {
		snprintf(a->last_error, sizeof(a->last_error), "configuration "
		    "document refused: %.440s", err);
		log_warnx("assignment %s: %s", a->name, a->last_error);
		return gc_report(a, "NonCompliant", &start, gc_whole(a,
		    "NonCompliant", "GC::DOCUMENT::INVALID", a->last_error));
	}
	memset(&ctx, 0, sizeof(ctx));
	memset(&stopper, 0, sizeof(stopper));
	stopper.gc = gc;
	snprintf(path, sizeof(path), "%s/" ARC_FILE_AGENT_CONF, gc->config_dir);
	if (stat(path, &stopper.st) == -1)
		memset(&stopper.st, 0, sizeof(stopper.st));
	ctx.stop = gc_stop_check;
	ctx.stop_arg = &stopper;
	ctx.apply = a->type == GC_APPLY_CORRECT ||
	    (a->type == GC_APPLY_MONITOR && !a->applied);
	ctx.backupfd = gc->backup_fd;
	ctx.changelogfd = gc->log_fd;
	ctx.command_timeout_ms = (int)gc->settings.command_timeout_seconds * 1000;
	ctx.assignment = a->name;
	result = gc_evaluate(doc, &ctx);
	gc_doc_free(doc);
	if (result == NULL)
		return NULL;
	if (stopper.reason[0] != '\0') {
		/* What was changed before the switch is in the change log. */
		if (json_integer_value(json_object_get(result, "changed")) > 0)
			gc_prune_backups(gc);
		json_decref(result);
		snprintf(a->last_error, sizeof(a->last_error), "%s",
		    stopper.reason);
		return gc_report(a, "Pending", &start, gc_whole(a, "Pending",
		    "GC::LOCAL::DISABLED", stopper.reason));
	}
	if (ctx.apply && a->type == GC_APPLY_MONITOR)
		a->applied = 1;
	status = json_string_value(json_object_get(result, "complianceStatus"));
	changed = json_integer_value(json_object_get(result, "changed"));
	if (changed > 0) {
		log_info("assignment %s: %lld change%s made", a->name, changed,
		    changed == 1 ? "" : "s");
		gc_prune_backups(gc);
		gc_drift_found(result);
		status = "NonCompliant";
	}
	a->last_error[0] = '\0';
	report = gc_report(a, status ? status : "NonCompliant", &start,
	    json_incref(json_object_get(result, "resources")));
	json_decref(result);
	return report;
}

/* Is the next evaluation at least a second away? */
static int
gc_idle_next(struct gc *gc)
{
	struct gc_assignment	*a;
	struct timespec		 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	TAILQ_FOREACH(a, &gc->assignments, entry)
		if (gc_ready(gc, a) && a->due.tv_sec < now.tv_sec + 1)
			return 0;
	return 1;
}

/* Evaluates the first assignment that is due, in the cloud's order, then
 * yields to the loop before the next (a removal or SIGTERM comes first). */
void
gc_eval_all_due(struct gc *gc)
{
	struct gc_assignment	*a;
	struct timespec		 now;
	json_t			*report;

	clock_gettime(CLOCK_MONOTONIC, &now);
	TAILQ_FOREACH(a, &gc->assignments, entry)
		if (gc_ready(gc, a) && gc_before(&a->due, &now))
			break;
	if (a != NULL) {
		if ((report = gc_evaluate_one(gc, a)) == NULL)
			log_warnx("assignment %s: out of memory", a->name);
		else {
			snprintf(a->status, sizeof(a->status), "%s",
			    json_string_value(json_object_get(report,
			    "complianceStatus")));
			log_info("assignment %s (%s): %s%s%s", a->name,
			    gc_type_name(a->type), a->status,
			    a->last_error[0] ? ": " : "", a->last_error);
			json_decref(a->unsent);
			a->unsent = report;
			a->reported = 1;
			gc_report_send(gc, a);
		}
		/* The period runs from the end: a slow one leaves the loop
		 * (and the others) as much time as a quick one. */
		clock_gettime(CLOCK_MONOTONIC, &a->due);
		a->due.tv_sec += gc_period(gc);
		gc_assign_save(gc);
	}
	gc_eval_schedule(gc);
	/* Nothing more due now: what the run allocated goes back to the
	 * system, so that an idle guestconfig stays small. */
	if (gc_idle_next(gc))
		malloc_trim(0);
}

static void
gc_post_free(struct gc_post *p)
{
	free(p->body);
	free(p);
}

static void
gc_on_posted(const struct httpc_resp *resp, void *arg)
{
	struct gc_post		*p = arg, **pp;
	struct gc		*gc = p->gc;
	struct gc_assignment	*a;
	const char		*id;
	char			 err[512];

	for (pp = &gc->posts; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	TAILQ_FOREACH(a, &gc->assignments, entry)
		if (strcmp(a->name, p->name) == 0)
			break;
	if (resp->status == 200 || resp->status == 404) {
		if (resp->status == 404)
			log_info("report of %s: the cloud no longer has it",
			    p->name);
		id = json_string_value(json_object_get(a != NULL ? a->unsent :
		    NULL, "reportId"));
		if (id != NULL && strcmp(id, p->report_id) == 0) {
			json_decref(a->unsent);
			a->unsent = NULL;
			gc_assign_save(gc);
		}
	} else {
		gc_cloud_error(resp, err, sizeof(err));
		log_warnx("report of %s: %s (sent again after the next poll)",
		    p->name, err);
	}
	gc_post_free(p);
}

/* POST .../guestConfigurationAssignments/<A>/reports with a->unsent. */
void
gc_report_send(struct gc *gc, struct gc_assignment *a)
{
	struct httpc_req	 req;
	struct gc_post		*p;
	char			 url[2048];

	if (a->unsent == NULL || gc->machine == NULL)
		return;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->body = json_dumps(a->unsent, JSON_COMPACT)) == NULL) {
		free(p);
		return;
	}
	p->gc = gc;
	snprintf(p->name, sizeof(p->name), "%s", a->name);
	snprintf(p->report_id, sizeof(p->report_id), "%s",
	    json_string_value(json_object_get(a->unsent, "reportId")));
	snprintf(url, sizeof(url), "%s/machines/%s/guestConfigurationAssignments/"
	    "%s/reports", gc->machine->cloud_url, gc->machine->name, a->name);
	gc_cloud_req(gc, &req, "POST", url);
	req.body = p->body;
	req.body_len = strlen(p->body);
	if (httpc_request(gc->httpc, &req, gc_on_posted, p) == -1) {
		gc_post_free(p);
		return;
	}
	p->next = gc->posts;
	gc->posts = p;
}

/* After a poll: the reports the cloud has not taken yet, again. */
void
gc_report_resend(struct gc *gc)
{
	struct gc_assignment	*a;
	struct gc_post		*p;

	TAILQ_FOREACH(a, &gc->assignments, entry) {
		if (a->unsent == NULL)
			continue;
		for (p = gc->posts; p != NULL; p = p->next)
			if (strcmp(p->name, a->name) == 0)
				break;
		if (p == NULL)
			gc_report_send(gc, a);
	}
}

/* At exit: the posts under way (httpc_free cancelled their callbacks). */
void
gc_report_stop(struct gc *gc)
{
	struct gc_post	*p;

	while ((p = gc->posts) != NULL) {
		gc->posts = p->next;
		gc_post_free(p);
	}
}
