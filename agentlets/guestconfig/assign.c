/* assign.c -- guestconfig's assignments: fetched from the cloud, reconciled with its own, kept in the state file while the cloud is unreachable. */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "atomicfile.h"
#include "guestconfig.h"
#include "httpc.h"
#include "log.h"
#include "machine.h"
#include "safedir.h"
#include "unpack.h"

#define GC_STATE_MAX		(16 << 20)
#define GC_STATE_VERSION	1

static const char *
gc_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Its unpacked package goes. */
static void
gc_assign_drop_package(struct gc *gc, struct gc_assignment *a)
{
	char	err[512];

	if (a->dir[0] != '\0' && unpack_remove_tree(gc->pkg_fd, a->dir, err,
	    sizeof(err)) == -1)
		log_warnx("assignment %s: %s", a->name, err);
	a->pkg = GC_PKG_NONE;
	a->pkg_error[0] = '\0';
	free(a->config_name);
	free(a->config_version);
	a->config_name = a->config_version = NULL;
}

void
gc_assign_clear(struct gc *gc)
{
	struct gc_assignment	*a;

	while ((a = TAILQ_FIRST(&gc->assignments)) != NULL) {
		TAILQ_REMOVE(&gc->assignments, a, entry);
		gc_assign_free(a);
	}
	gc->nassignments = 0;
}

/* RFC 3339 UTC with milliseconds, for reports and the state file. */
void
gc_time_text(const struct timespec *ts, char *buf, size_t len)
{
	struct tm	tm;
	time_t		t = ts->tv_sec;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts->tv_nsec / 1000000);
}

static json_t *
gc_time_json(time_t t)
{
	struct timespec	ts = { t, 0 };
	char		buf[40];

	if (t == 0)
		return json_null();
	gc_time_text(&ts, buf, sizeof(buf));
	return json_string(buf);
}

static time_t
gc_time_parse(const char *s)
{
	struct tm	 tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

static const char *const gc_pkg_names[] = {
	"none", "fetching", "ready", "refused"
};

static json_t *
gc_assign_json(const struct gc_assignment *a)
{
	json_t	*o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s*, s:s, s:s, s:s*, s:s*, "
	    "s:s, s:o, s:s, s:b, s:b, s:O*}",
	    "name", a->name, "contentUri", a->content_uri,
	    "contentHash", a->content_hash,
	    "assignmentType", gc_type_name(a->type),
	    "configurationParameter", a->params, "version", a->version,
	    "package", gc_pkg_names[a->pkg], "packageError", a->pkg_error,
	    "configurationName", a->config_name,
	    "configurationVersion", a->config_version,
	    "status", a->status[0] ? a->status : "Pending",
	    "lastEvaluation", gc_time_json(a->last_eval),
	    "lastError", a->last_error,
	    "applied", a->applied, "reported", a->reported,
	    "unsentReport", a->unsent);
	return o;
}

/*
 * <state>/guestconfig/guestconfig.json: the assignments as last fetched,
 * with what became of them (azcmagent show reads it too).  0 or -1.
 */
int
gc_assign_save(struct gc *gc)
{
	struct gc_assignment	*a;
	struct timespec		 now;
	json_t			*doc, *list;
	char			*text, err[512];
	int			 rc;

	clock_gettime(CLOCK_REALTIME, &now);
	if ((list = json_array()) == NULL)
		return -1;
	TAILQ_FOREACH(a, &gc->assignments, entry)
		json_array_append_new(list, gc_assign_json(a));
	doc = json_pack("{s:i, s:b, s:s, s:s, s:o, s:o, s:o, s:s, s:I, s:o}",
	    "version", GC_STATE_VERSION,
	    "enabled", gc->disabled[0] == '\0',
	    "disabledReason", gc->disabled,
	    "mode", gc->disabled[0] ? "disabled" : "full",
	    "updated", gc_time_json(now.tv_sec),
	    "lastFetch", gc_time_json(gc->last_fetch),
	    "lastPoll", gc_time_json(gc->last_poll),
	    "lastPollError", gc->poll_error,
	    "goalStateSeq", (json_int_t)gc->goal_seq,
	    "assignments", list);
	if (doc == NULL || (text = json_dumps(doc, JSON_INDENT(1) |
	    JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(doc);
		log_warnx("state file: out of memory");
		return -1;
	}
	json_decref(doc);
	if ((rc = atomicfile_writeat(gc->own_fd, GC_STATE_FILE, text,
	    strlen(text), 0600, ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err,
	    sizeof(err))) == -1)
		log_warnx("%s/%s/%s: %s", gc->state_dir, GC_OWN_DIR, GC_STATE_FILE,
		    err);
	free(text);
	return rc;
}

/* Is the unpacked package of a still whole?  Then it is READY again. */
static void
gc_assign_restore_package(struct gc *gc, struct gc_assignment *a, json_t *o)
{
	const char	*name = gc_str(o, "configurationName");
	const char	*version = gc_str(o, "configurationVersion");
	struct stat	 st;

	if (strcmp(gc_str(o, "package") ? gc_str(o, "package") : "",
	    "ready") != 0 || name == NULL ||
	    fstatat(gc->pkg_fd, a->dir, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISDIR(st.st_mode))
		return;
	if ((a->config_name = strdup(name)) == NULL ||
	    (version != NULL && (a->config_version = strdup(version)) == NULL))
		return;
	a->pkg = GC_PKG_READY;
}

/* The assignments of the last run, unless older than GC_OFFLINE_KEEP. */
void
gc_assign_load(struct gc *gc)
{
	struct gc_assignment	*a;
	json_t			*doc, *o;
	char			*text, err[512];
	size_t			 i, len;
	time_t			 fetched;

	if ((text = atomicfile_readat(gc->own_fd, GC_STATE_FILE, GC_STATE_MAX,
	    &len, err, sizeof(err))) == NULL) {
		if (errno != ENOENT)
			log_warnx("%s: %s", GC_STATE_FILE, err);
		return;
	}
	doc = json_loadb(text, len, 0, NULL);
	free(text);
	if (doc == NULL) {
		log_warnx("%s/%s: not JSON: starting without assignments",
		    GC_OWN_DIR, GC_STATE_FILE);
		return;
	}
	fetched = gc_time_parse(gc_str(doc, "lastFetch"));
	if (fetched != 0 && time(NULL) - fetched > GC_OFFLINE_KEEP) {
		log_info("the assignments fetched at %s are older than 14 days: "
		    "dropped", gc_str(doc, "lastFetch"));
		json_decref(doc);
		return;
	}
	gc->last_fetch = fetched;
	gc->goal_seq = json_integer_value(json_object_get(doc, "goalStateSeq"));
	json_array_foreach(json_object_get(doc, "assignments"), i, o) {
		if (gc->nassignments == GC_MAX_ASSIGNMENTS)
			break;
		if ((a = gc_assign_parse(o, err, sizeof(err))) == NULL) {
			log_warnx("%s: %s", GC_STATE_FILE, err);
			continue;
		}
		a->applied = json_is_true(json_object_get(o, "applied"));
		a->reported = json_is_true(json_object_get(o, "reported"));
		a->last_eval = gc_time_parse(gc_str(o, "lastEvaluation"));
		snprintf(a->status, sizeof(a->status), "%s", gc_str(o, "status") ?
		    gc_str(o, "status") : "");
		if (json_is_object(json_object_get(o, "unsentReport")))
			a->unsent = json_incref(json_object_get(o,
			    "unsentReport"));
		gc_assign_restore_package(gc, a, o);
		TAILQ_INSERT_TAIL(&gc->assignments, a, entry);
		gc->nassignments++;
	}
	json_decref(doc);
	gc_refused_apply(gc);
}

/* The identity in the state dir, read again before each call. */
static int
gc_machine(struct gc *gc)
{
	struct himds_machine	*m = NULL;
	char			 err[512];

	if (himds_machine_load(gc->state_dir, &m, err, sizeof(err)) != 0) {
		snprintf(gc->poll_error, sizeof(gc->poll_error), "%s", err);
		return -1;
	}
	himds_machine_free(gc->machine);
	gc->machine = m;
	return 0;
}

/* Fills req for a call to url as the machine (through arcproxy). */
void
gc_cloud_req(struct gc *gc, struct httpc_req *req, const char *method,
    const char *url)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = url;
	req->proxy = gc->settings.proxy;
	req->ca_file = gc->machine->ca_file;
	/* As read from himds's folder: root never opens its paths. */
	req->cert_pem = gc->machine->cert_pem;
	req->cert_pem_len = gc->machine->cert_len;
	req->key_pem = gc->machine->key_pem;
	req->key_pem_len = gc->machine->key_len;
	req->timeout_ms = gc->settings.cloud_timeout_seconds * 1000;
}

/* The cloud's error body, or curl's reason. */
void
gc_cloud_error(const struct httpc_resp *resp, char *out, size_t outlen)
{
	json_t		*doc = NULL, *e;
	const char	*msg;

	if (resp->status == 0) {
		snprintf(out, outlen, "no answer: %s", resp->error[0] ?
		    resp->error : "unknown error");
		return;
	}
	if (resp->body != NULL)
		doc = json_loadb(resp->body, resp->body_len, 0, NULL);
	e = json_object_get(doc, "error");
	if ((msg = gc_str(e, "message")) != NULL)
		snprintf(out, outlen, "HTTP %ld: %s: %s", resp->status,
		    gc_str(e, "code") ? gc_str(e, "code") : "", msg);
	else
		snprintf(out, outlen, "HTTP %ld", resp->status);
	json_decref(doc);
}

/* The cloud stayed out of reach: after 14 days the assignments go. */
static void
gc_assign_unreachable(struct gc *gc)
{
	struct gc_assignment	*a;

	log_warnx("assignments: %s", gc->poll_error);
	if (gc->last_fetch == 0 || time(NULL) - gc->last_fetch <= GC_OFFLINE_KEEP ||
	    gc->nassignments == 0)
		return;
	log_info("no answer from the cloud for 14 days: the %d assignments "
	    "stop", gc->nassignments);
	TAILQ_FOREACH(a, &gc->assignments, entry)
		gc_assign_drop_package(gc, a);
	gc_assign_clear(gc);
	gc_eval_schedule(gc);
}

/* The cloud's list (parsed) replaces ours: kept, changed, new and removed
 * ones; list is left empty. */
static void
gc_assign_reconcile(struct gc *gc, struct gc_assignments *list)
{
	struct gc_assignments	 next;
	struct gc_assignment	*a, *old;
	int			 n = 0;

	TAILQ_INIT(&next);
	while ((a = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, a, entry);
		TAILQ_FOREACH(old, &gc->assignments, entry)
			if (strcmp(old->name, a->name) == 0)
				break;
		n++;
		if (old == NULL) {
			log_info("assignment %s: new, %s of %s", a->name,
			    gc_type_name(a->type), a->content_uri);
			TAILQ_INSERT_TAIL(&next, a, entry);
			continue;
		}
		TAILQ_REMOVE(&gc->assignments, old, entry);
		/* A new version is checked against the package's signature
		 * again: the package is fetched and verified anew. */
		if (strcmp(old->content_hash, a->content_hash) != 0 ||
		    strcmp(old->content_uri, a->content_uri) != 0 ||
		    (old->version == NULL) != (a->version == NULL) ||
		    (old->version != NULL && strcmp(old->version,
		    a->version) != 0)) {
			log_info("assignment %s: new content %s%s%s", a->name,
			    a->content_uri, a->version != NULL ? ", version " :
			    "", a->version != NULL ? a->version : "");
			gc_assign_drop_package(gc, old);
			gc_assign_free(old);
			TAILQ_INSERT_TAIL(&next, a, entry);
			continue;
		}
		if (!gc_same_params(old, a)) {
			log_info("assignment %s: now %s, parameters changed",
			    a->name, gc_type_name(a->type));
			old->type = a->type;
			json_decref(old->params);
			old->params = json_incref(a->params);
			free(old->version);
			old->version = a->version;
			a->version = NULL;
			old->applied = old->reported = 0;
			old->due.tv_sec = 0;
		}
		gc_assign_free(a);
		TAILQ_INSERT_TAIL(&next, old, entry);
	}
	/* What is left was removed: it stops at once. */
	while ((old = TAILQ_FIRST(&gc->assignments)) != NULL) {
		TAILQ_REMOVE(&gc->assignments, old, entry);
		log_info("assignment %s: removed", old->name);
		gc_assign_drop_package(gc, old);
		gc_assign_free(old);
	}
	TAILQ_CONCAT(&gc->assignments, &next, entry);
	gc->nassignments = n;
}

static void
gc_on_list(const struct httpc_resp *resp, void *arg)
{
	struct gc		*gc = arg;
	struct gc_assignments	 list;
	char			 why[512];

	gc->polling = 0;
	gc->last_poll = time(NULL);
	TAILQ_INIT(&list);
	if (resp->status != 200) {
		gc_cloud_error(resp, gc->poll_error, sizeof(gc->poll_error));
		gc_assign_unreachable(gc);
		goto done;
	}
	if (gc_list_parse(resp->body, resp->body_len, &list, &gc->goal_seq, why,
	    sizeof(why)) == -1) {
		snprintf(gc->poll_error, sizeof(gc->poll_error), "%s", why);
		log_warnx("%s", gc->poll_error);
		goto done;
	}
	if (why[0] != '\0')
		log_warnx("assignments: %s", why);
	gc->poll_error[0] = '\0';
	gc->last_fetch = gc->last_poll;
	gc_assign_reconcile(gc, &list);
	/* A refused package waits (refused.json); the others are fetched. */
	gc_refused_apply(gc);
	gc_report_resend(gc);
	gc_package_fetch_next(gc);
	gc_eval_schedule(gc);
 done:
	gc_list_clear(&list);
	gc_assign_save(gc);
}

void
gc_assign_poll(struct gc *gc)
{
	struct httpc_req	req;
	char			url[2048];

	if (gc->polling)
		return;
	if (gc_machine(gc) == -1) {
		gc->last_poll = time(NULL);
		log_debug("assignments: %s", gc->poll_error);
		gc_assign_save(gc);
		return;
	}
	snprintf(url, sizeof(url), "%s/machines/%s/guestConfigurationAssignments",
	    gc->machine->cloud_url, gc->machine->name);
	gc_cloud_req(gc, &req, "GET", url);
	if (httpc_request(gc->httpc, &req, gc_on_list, gc) == -1) {
		snprintf(gc->poll_error, sizeof(gc->poll_error), "cannot start "
		    "the request");
		return;
	}
	gc->polling = 1;
}
