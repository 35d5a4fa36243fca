/* worker.c -- one reconcile pass, run in a child of the daemon: goal state fetched, each extension brought to it step by step (download, verify, unpack, handlers), every step reported and recorded. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agentconf.h"
#include "certs.h"
#include "cloud.h"
#include "download.h"
#include "goal.h"
#include "handler.h"
#include "log.h"
#include "manifest.h"
#include "pkginstall.h"
#include "pkgverify.h"
#include "policy.h"
#include "safedir.h"
#include "state.h"
#include "unpack.h"
#include "worker.h"

#define WORKER_OUTPUT_REPORT	3200	/* output characters in a report */
#define WORKER_MESSAGE_MAX	4096	/* the cloud keeps as much */

struct worker {
	const struct extmgr_settings *s;
	const char		*config_dir;
	const char		*state_dir;
	char			 own_dir[PATH_MAX];	/* <state>/extmgr */
	char			 ext_dir[PATH_MAX];	/* .../extensions */
	char			 certs_dir[PATH_MAX];
	char			 runs_dir[PATH_MAX];
	int			 own_fd;
	int			 ext_fd;
	int			 dl_fd;
	struct agentconf	 ac;
	struct extmgr_cloud	 cloud;
	struct extmgr_state	 st;
	struct certs_pair	 certs;
	struct goal		 goal;
	struct event_base	*base;		/* for the handlers' runs */
	int			 unreachable;	/* a report found no cloud */
};

/* What a step came to, for the report. */
struct outcome {
	const char	*op;		/* "Install", ... */
	const char	*status;	/* "success", "error", ... */
	int		 code;
	int		 exit_code;	/* run_op: the command's, as the VM
					   agent tells the next one (exit
					   status, 1011 timeout, -signal) */
	char		 message[WORKER_MESSAGE_MAX];
	json_t		*substatus;	/* owned, or NULL */
};

/* The VM agent's value of an exit code variable for a command not run. */
#define WORKER_NOT_RUN	"NOT_RUN"

static void
outcome_set(struct outcome *o, const char *op, const char *status, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
outcome_set(struct outcome *o, const char *op, const char *status, int code,
    const char *fmt, ...)
{
	va_list	ap;

	o->op = op;
	o->status = status;
	o->code = code;
	va_start(ap, fmt);
	vsnprintf(o->message, sizeof(o->message), fmt, ap);
	va_end(ap);
}

static int
worker_save(struct worker *w)
{
	char	err[512];

	if (state_save(&w->st, err, sizeof(err)) == -1) {
		log_warnx("state: %s", err);
		return -1;
	}
	return 0;
}

/* --- reports ---------------------------------------------------------- */

/* What the cloud would see differently (not "time", not "sent"): the
 * substatus too, since every pass's status_pass() sends on a change. */
static int
report_same(json_t *a, json_t *b)
{
	static const char *const keys[] = { "sequenceNumber", "version",
	    "operation", "status", "code", "message", "handlerState",
	    "substatus", NULL };
	json_t	*va, *vb;
	int	 i;

	if (a == NULL || b == NULL)
		return 0;
	for (i = 0; keys[i] != NULL; i++) {
		va = json_object_get(a, keys[i]);
		vb = json_object_get(b, keys[i]);
		if ((va != NULL || vb != NULL) && !json_equal(va, vb))
			return 0;	/* json_equal: NULL is unequal */
	}
	return 1;
}

/* PUT .../extensions/<name>/status with the record's report; marks it
 * sent.  -1 when the cloud did not take it (kept for the next pass). */
static int
report_send(struct worker *w, const char *name, json_t *rec)
{
	json_t	*rep = json_object_get(rec, "report"), *body;
	char	 path[512], err[1024], *answer;
	size_t	 alen;
	long	 status;

	if (rep == NULL || json_is_true(json_object_get(rep, "sent")))
		return 0;
	if ((body = json_deep_copy(rep)) == NULL)
		return -1;
	json_object_del(body, "sent");
	json_object_del(body, "time");
	snprintf(path, sizeof(path), "extensions/%s/status", name);
	status = cloud_call(&w->cloud, "PUT", path, body, &answer, &alen, err,
	    sizeof(err));
	json_decref(body);
	free(answer);
	if (status == 0) {
		w->unreachable = 1;
		log_warnx("%s: report kept for later: %s", name, err);
		return -1;
	}
	if (status < 200 || status > 299) {
		/* A report the cloud refuses is not sent again. */
		log_warnx("%s: report refused: %s", name, err);
	}
	json_object_set_new(rep, "sent", json_true());
	worker_save(w);
	return 0;
}

/* Records and sends a report for name at the goal's seq and version. */
static void
report(struct worker *w, const char *name, json_t *rec, long long seq,
    const char *version, struct outcome *o)
{
	json_t		*rep;
	char		 when[32];
	time_t		 now = time(NULL);
	struct tm	 tm;
	size_t		 len = strlen(o->message);

	while (len > 0 && (o->message[len - 1] == '\n' ||
	    o->message[len - 1] == ' '))
		o->message[--len] = '\0';
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rep = json_pack("{s:I,s:s,s:s,s:s,s:i,s:s,s:s,s:b,s:s}",
	    "sequenceNumber", (json_int_t)seq, "version", version ? version : "",
	    "operation", o->op, "status", o->status, "code", o->code,
	    "message", o->message, "handlerState",
	    state_str(rec, "handlerState") ? state_str(rec, "handlerState") :
	    "NotInstalled", "sent", 0, "time", when);
	if (rep == NULL)
		return;
	if (o->substatus != NULL)
		json_object_set(rep, "substatus", o->substatus);
	json_decref(o->substatus);
	o->substatus = NULL;
	if (report_same(rep, json_object_get(rec, "report")) &&
	    json_is_true(json_object_get(json_object_get(rec, "report"),
	    "sent"))) {
		json_decref(rep);
		return;
	}
	if (o->code != 0)
		log_info("%s %s %s: code %d: %s", name, o->op, o->status,
		    o->code, o->message);
	else
		log_info("%s %s %s: %s", name, o->op, o->status, o->message);
	json_object_set_new(rec, "report", rep);
	worker_save(w);
	report_send(w, name, rec);
}

/* --- the handlers --------------------------------------------------------- */

struct run_wait {
	int	done;
	int	code;
	int	exit_code;	/* as struct outcome's */
	int	ok;
	char	message[WORKER_MESSAGE_MAX];
};

static void
run_done(const struct handler_result *r, void *arg)
{
	struct run_wait	*rw = arg;
	size_t		 off = 0;

	rw->done = 1;
	rw->ok = r->code == 0;
	rw->code = r->code;
	/* Python's returncode, as the VM agent sees it: -N for a signal. */
	rw->exit_code = r->exited ? r->exit_status : r->timed_out ? r->code :
	    r->term_signal != 0 ? -r->term_signal : r->code;
	if (rw->ok && r->output_len == 0)
		snprintf(rw->message, sizeof(rw->message), "%s",
		    r->message ? r->message : "");
	else {
		off = r->output_len > WORKER_OUTPUT_REPORT ?
		    r->output_len - WORKER_OUTPUT_REPORT : 0;
		snprintf(rw->message, sizeof(rw->message), "%s%s%.*s",
		    r->message ? r->message : "", r->output_len ? "; output: " :
		    "", (int)(r->output_len - off), r->output ? r->output + off :
		    "");
	}
}

struct ext_where {
	char	dir_name[300];	/* <Publisher>.<Type>-<Version> */
	char	handler_name[260];	/* <Publisher>.<Type> */
	char	ext_path[PATH_MAX];
	char	log_path[PATH_MAX];
};

static void
ext_where(struct worker *w, const char *publisher, const char *type,
    const char *version, struct ext_where *x)
{
	snprintf(x->handler_name, sizeof(x->handler_name), "%s.%s", publisher,
	    type);
	snprintf(x->dir_name, sizeof(x->dir_name), "%s-%s", x->handler_name,
	    version);
	if ((size_t)snprintf(x->ext_path, sizeof(x->ext_path), "%s/%s",
	    w->ext_dir, x->dir_name) >= sizeof(x->ext_path) ||
	    (size_t)snprintf(x->log_path, sizeof(x->log_path),
	    "%s/" EXTMGR_LOG_DIR "/%s", w->own_dir, x->handler_name) >=
	    sizeof(x->log_path))
		x->ext_path[0] = x->log_path[0] = '\0';	/* opens nothing */
}

/* An update's VERSION and AZURE_GUEST_AGENT_UPDATING_FROM_VERSION. */
struct update_versions {
	const char	*to;
	const char	*from;
};

/*
 * Runs op of the handler in x's directory (its manifest read there) with
 * the settings of seq and the variables env ("NAME=value", NULL-terminated,
 * or NULL); an update is told up's versions.  Blocking, on the worker's own
 * loop.  0 on success, else -1 with o filled (the code, exit code and
 * message of the run).
 */
static int
run_op(struct worker *w, const struct ext_where *x, const char *version,
    enum manifest_op op, long long seq, const struct update_versions *up,
    const char *const *env, struct outcome *o)
{
	struct handler_paths	 paths;
	struct handler_endpoints ep;
	struct handler_job	 job;
	struct handler_run	*run;
	struct manifest		*m = NULL;
	struct run_wait		 rw;
	char			 err[1024], identity[512];
	int			 fd, rc;

	if ((fd = safedir_open(x->ext_path, err, sizeof(err))) == -1) {
		outcome_set(o, manifest_op_report_name(op), "error",
		    MANIFEST_ERR_MISSING, "%s", err);
		o->exit_code = o->code;
		return -1;
	}
	if ((rc = manifest_load(fd, &m, err, sizeof(err))) != 0) {
		close(fd);
		outcome_set(o, manifest_op_report_name(op), "error", rc, "%s",
		    err);
		o->exit_code = o->code;
		return -1;
	}
	memset(&paths, 0, sizeof(paths));
	paths.name = x->handler_name;
	paths.version = version;
	paths.ext_dir = x->ext_path;
	paths.log_dir = x->log_path;
	paths.certs_dir = w->certs_dir;
	snprintf(identity, sizeof(identity), "%s/metadata/identity/oauth2/token",
	    w->s->himds_endpoint);
	memset(&ep, 0, sizeof(ep));
	ep.proxy_url = w->s->proxy;
	ep.imds = w->s->himds_endpoint;
	ep.identity = identity;
	memset(&job, 0, sizeof(job));
	job.op = op;
	job.command = m->command[op];
	job.paths = &paths;
	job.endpoints = &ep;
	job.seq = seq < 0 ? 0 : (long)seq;
	if (up != NULL) {
		job.updating_from = up->from;
		job.update_version = up->to;
	}
	job.extra_env = env;
	job.timeout_seconds = (int)w->s->limit_seconds[op];
	job.runs_dir = w->runs_dir;
	memset(&rw, 0, sizeof(rw));
	if (handler_write_environment(fd, &paths, err, sizeof(err)) == -1) {
		outcome_set(o, manifest_op_report_name(op), "error",
		    manifest_op_error_code(op), "%s", err);
		goto fail;
	}
	log_info("%s %s: %s", x->dir_name, manifest_op_name(op), job.command);
	if ((run = handler_start(w->base, &job, run_done, &rw, err,
	    sizeof(err))) == NULL) {
		outcome_set(o, manifest_op_report_name(op), "error",
		    manifest_op_error_code(op), "%s", err);
		goto fail;
	}
	while (!rw.done)
		if (event_base_loop(w->base, EVLOOP_ONCE) == -1)
			break;
	if (!rw.done) {
		handler_cancel(run);
		outcome_set(o, manifest_op_report_name(op), "error",
		    manifest_op_error_code(op), "the event loop failed");
		goto fail;
	}
	outcome_set(o, manifest_op_report_name(op), rw.ok ? "success" : "error",
	    rw.code, "%s", rw.message);
	o->exit_code = rw.exit_code;
	manifest_free(m);
	close(fd);
	return rw.ok ? 0 : -1;
 fail:
	o->exit_code = o->code;	/* not run: the VM agent gives the error's */
	manifest_free(m);
	close(fd);
	return -1;
}

/* The manifest's continueOnUpdateFailure and updateMode of x. */
static int
ext_manifest(const struct ext_where *x, int *cont, int *with_install)
{
	struct manifest	*m;
	char		 err[512];
	int		 fd;

	*cont = 0;
	*with_install = 1;
	if ((fd = safedir_open(x->ext_path, err, sizeof(err))) == -1)
		return -1;
	if (manifest_load(fd, &m, err, sizeof(err)) != 0) {
		close(fd);
		return -1;
	}
	*cont = m->continue_on_update_failure;
	*with_install = m->update_mode == MANIFEST_UPDATE_WITH_INSTALL;
	manifest_free(m);
	close(fd);
	return 0;
}

/* config/<seq>.settings for g, with the settings certificate placed when
 * there are protected settings. */
static int
write_settings(struct worker *w, const struct ext_where *x,
    const struct goal_ext *g, struct outcome *o)
{
	char	err[512];
	int	fd, cfd, rc = -1;

	if (g->protected_settings != NULL) {
		if (strcasecmp(g->thumbprint, w->certs.thumbprint) != 0) {
			outcome_set(o, "Enable", "error", 1009, "protectedSettings "
			    "are encrypted to certificate %s, not to this "
			    "machine's settings certificate %s", g->thumbprint,
			    w->certs.thumbprint);
			return -1;
		}
		if ((cfd = handler_certs_dir_open(w->certs_dir, err,
		    sizeof(err))) == -1 ||
		    handler_place_certificate(cfd, w->certs.thumbprint,
		    w->certs.cert_pem, w->certs.cert_len, w->certs.key_pem,
		    w->certs.key_len, err, sizeof(err)) == -1) {
			if (cfd != -1)
				close(cfd);
			outcome_set(o, "Enable", "error", 1009, "settings "
			    "certificate: %s", err);
			return -1;
		}
		close(cfd);
	}
	if ((fd = safedir_open(x->ext_path, err, sizeof(err))) == -1) {
		outcome_set(o, "Enable", "error", 1009, "%s", err);
		return -1;
	}
	if (handler_write_environment(fd, &(struct handler_paths){
	    .name = x->handler_name, .version = g->version,
	    .ext_dir = x->ext_path, .log_dir = x->log_path,
	    .certs_dir = w->certs_dir }, err, sizeof(err)) == -1 ||
	    handler_write_settings(fd, (long)g->seq, g->public_settings,
	    g->protected_settings, g->thumbprint, err, sizeof(err)) == -1)
		outcome_set(o, "Enable", "error", 1009, "%s", err);
	else
		rc = 0;
	close(fd);
	return rc;
}

/*
 * The handler's own status for seq, as the report of an enable, in o: its
 * status/<seq>.status (none yet is transitioning, the VM agent's
 * placeholder) and, when its manifest says reportHeartbeat, its heartbeat
 * file as the "heartbeat" substatus (the VM agent's handler status:
 * "Unresponsive" once older than stale_seconds).  Both read as manifest.c
 * reads them: bounded, never through a symlink.  -1, o's status left as it
 * was, when the extension's directory or memory is lacking.
 */
static int
status_outcome(const struct ext_where *x, long long seq,
    long long stale_seconds, struct outcome *o)
{
	struct manifest			*m = NULL;
	struct manifest_status		*ms = NULL;
	struct manifest_heartbeat	*hb = NULL;
	json_t				*subs = NULL, *sub;
	int				 fd, heartbeat = 0, rc = -1;
	char				 err[512];

	if ((fd = safedir_open(x->ext_path, err, sizeof(err))) == -1)
		return -1;
	if (manifest_load(fd, &m, err, sizeof(err)) == 0)
		heartbeat = m->report_heartbeat;
	if (manifest_status_read(fd, (long)seq, &ms) == -1 || ms == NULL)
		goto done;
	if (json_array_size(ms->substatus) > 0 &&
	    (subs = json_deep_copy(ms->substatus)) == NULL)
		goto done;
	if (heartbeat) {
		if (manifest_heartbeat_read(fd, time(NULL), (long)stale_seconds,
		    &hb) == -1 || hb == NULL)
			goto done;
		/* The heartbeat's entry takes the last place a report has. */
		if (subs != NULL && json_array_size(subs) >= MANIFEST_SUBSTATUS_MAX)
			json_array_remove(subs, json_array_size(subs) - 1);
		if ((subs == NULL && (subs = json_array()) == NULL) ||
		    (sub = json_pack("{s:s,s:s,s:i,s:{s:s,s:s}}", "name",
		    "heartbeat", "status", hb->status, "code", hb->code,
		    "formattedMessage", "lang", "en-US", "message",
		    hb->message ? hb->message : "")) == NULL ||
		    json_array_append_new(subs, sub) == -1)
			goto done;
	}
	o->status = strcmp(ms->status, "success") == 0 ? "success" :
	    strcmp(ms->status, "warning") == 0 ? "warning" :
	    strcmp(ms->status, "error") == 0 ? "error" : "transitioning";
	o->code = ms->code;
	snprintf(o->message, sizeof(o->message), "%s",
	    ms->message ? ms->message : "");
	json_decref(o->substatus);
	o->substatus = subs;
	subs = NULL;
	rc = 0;
 done:
	json_decref(subs);
	manifest_free(m);
	manifest_status_free(ms);
	manifest_heartbeat_free(hb);
	close(fd);
	return rc;
}

/* --- the package ---------------------------------------------------------- */

/*
 * agent.conf read again after a download (which may have taken minutes):
 * a block the operator wrote meanwhile wins before any handler runs.
 * Non-zero when g may still be installed or upgraded to.
 */
static int
policy_still_allows(struct worker *w, const struct goal_ext *g, json_t *rec,
    char *reason, size_t len)
{
	struct agentconf	ac;
	char			err[512];

	memset(&ac, 0, sizeof(ac));
	if (agentconf_load(w->config_dir, &ac, err, sizeof(err)) == 0) {
		agentconf_clear(&w->ac);
		w->ac = ac;
	} else
		log_warnx("%s", err);	/* the one read at the start holds */
	return policy_allowed(&w->ac, g->publisher, g->type,
	    state_str(rec, "version") == NULL ? POLICY_INSTALL : POLICY_UPGRADE,
	    reason, len);
}

/*
 * The signature names the type and version (pkgverify), so the cloud
 * cannot pass a blocklisted package off as another type.  The manifest's
 * "name" (inside the signed zip) says which type the handler is, too;
 * when it has one it must be g's, compared without case: a publisher's
 * package signed under the wrong type is not installed either.  0, or -1
 * with why filled.
 */
static int
package_is_type(const struct ext_where *x, const struct goal_ext *g,
    char *why, size_t len)
{
	struct manifest	*m = NULL;
	char		 err[512];
	int		 fd, rc = 0;

	if ((fd = safedir_open(x->ext_path, err, sizeof(err))) == -1) {
		snprintf(why, len, "%s", err);
		return -1;
	}
	if (manifest_load(fd, &m, err, sizeof(err)) != 0)
		rc = 0;		/* the first handler run reports it (1002/1003) */
	else if (m->name != NULL && strcasecmp(m->name, g->type) != 0) {
		snprintf(why, len, "package refused: its %s names the type "
		    "\"%.128s\", not %s/%s", MANIFEST_FILE, m->name,
		    g->publisher, g->type);
		rc = -1;
	}
	manifest_free(m);
	close(fd);
	return rc;
}

/*
 * Every unpacked file u+x, as the VM agent's initialize makes it: a zip
 * made on Windows has no mode bits, and unpack gives 0755 only to entries
 * that had one.  On failure the tree is removed (unpacked again at the
 * next pass) and -1 returned with why filled.
 */
static int
package_executable(struct worker *w, const struct ext_where *x, char *why,
    size_t len)
{
	char	err[512];
	int	fd, rc;

	if ((fd = safedir_open(x->ext_path, why, len)) == -1)
		rc = -1;
	else {
		rc = handler_make_executable(fd, why, len);
		close(fd);
	}
	if (rc == -1 && unpack_remove_tree(w->ext_fd, x->dir_name, err,
	    sizeof(err)) == -1)
		log_warnx("%s", err);
	return rc;
}

enum fetch_result {
	FETCH_OK,
	FETCH_RETRY,	/* the network: try again at the next pass */
	FETCH_FAILED,	/* the package is bad: not until the goal changes */
};

static int
worker_stop(void *arg)
{
	(void)arg;
	return 0;
}

/*
 * Downloads g's package and signature, verifies them, and unpacks the zip
 * as x->dir_name under extensions/.  A failure leaves nothing of it.
 */
static enum fetch_result
fetch_package(struct worker *w, const char *name, json_t *rec,
    const struct goal_ext *g, const struct ext_where *x)
{
	struct download_req	 req;
	struct download_result	 res;
	struct pkg_expect	 exp;
	enum pkginstall_stage	 stage;
	struct outcome		 o;
	char			 file[320], err[1024], why[1024];
	void			*sig = NULL;
	size_t			 siglen = 0;
	enum fetch_result	 rc = FETCH_FAILED;

	memset(&o, 0, sizeof(o));
	snprintf(file, sizeof(file), "%s.zip", x->dir_name);
	outcome_set(&o, "Download", "transitioning", 0, "downloading %s",
	    g->url);
	report(w, name, rec, g->seq, g->version, &o);
	memset(&req, 0, sizeof(req));
	req.url = g->url;
	req.proxy = w->s->proxy;
	req.ca_file = w->cloud.ca_file;
	req.max_bytes = g->size;
	req.attempts = (int)w->s->download_attempts;
	req.backoff_ms = (long)w->s->download_backoff_ms;
	req.stall_seconds = (long)w->s->download_stall_seconds;
	req.connect_timeout_ms = w->cloud.timeout_ms;
	req.stop = worker_stop;
	if (download_fetch(w->dl_fd, file, &req, &res, err, sizeof(err)) == -1) {
		outcome_set(&o, "Download", "error", EXTMGR_ERR_DOWNLOAD,
		    "package download failed: %s", err);
		rc = res.status >= 400 && res.status < 500 &&
		    res.status != 408 && res.status != 429 ? FETCH_FAILED :
		    FETCH_RETRY;
		if (rc == FETCH_FAILED)
			unlinkat(w->dl_fd, file, 0);
		goto done;
	}
	if (res.resumed_from > 0)
		log_info("%s: resumed at byte %llu", file,
		    (unsigned long long)res.resumed_from);
	req.url = g->signature_url;
	req.max_bytes = 0;
	if (download_small(&req, PKGVERIFY_SIG_MAX, &sig, &siglen, why,
	    sizeof(why)) == -1) {
		/* Only an answer that there is none means "no signature". */
		if (strstr(why, "HTTP 4") == NULL) {
			outcome_set(&o, "Download", "error", EXTMGR_ERR_DOWNLOAD,
			    "signature download failed: %s", why);
			rc = FETCH_RETRY;
			goto done;
		}
		/* Nothing to verify with: the check below names it. */
		sig = NULL;
		siglen = 0;
	}
	/* The signature must name this type and version: a package signed
	 * as another is refused before it is opened. */
	memset(&exp, 0, sizeof(exp));
	exp.kind = PKG_EXTENSION;
	exp.publisher = g->publisher;
	exp.name = g->type;
	exp.version = g->version;
	exp.sha256 = g->sha256;
	exp.size = g->size;
	/* An old dir of that name (a pass that died between the unpack and
	 * the state write) is replaced. */
	if (pkginstall_verified(w->dl_fd, file, w->s->packages_ca, &exp, sig,
	    siglen, NULL, w->ext_fd, x->dir_name, 0755, NULL, &stage, err,
	    sizeof(err)) == -1) {
		switch (stage) {
		case PKGINSTALL_CA:
			outcome_set(&o, "Verify", "error", EXTMGR_ERR_DOWNLOAD,
			    "package verification: %s", err);
			rc = FETCH_RETRY;
			break;
		case PKGINSTALL_OPEN:
			outcome_set(&o, "Verify", "error", EXTMGR_ERR_DOWNLOAD,
			    "%s", err);
			break;
		case PKGINSTALL_VERIFY:
			outcome_set(&o, "Verify", "error", EXTMGR_ERR_DOWNLOAD,
			    "package verification failed: %s%s%s", err,
			    sig == NULL ? " (" : "", sig == NULL ? why : "");
			if (sig == NULL)
				strncat(o.message, ")", sizeof(o.message) -
				    strlen(o.message) - 1);
			break;
		default:
			outcome_set(&o, "Install", "error", EXTMGR_ERR_EXTRACT,
			    "package extraction refused: %s", err);
			break;
		}
		goto done;
	}
	if (package_executable(w, x, why, sizeof(why)) == -1) {
		outcome_set(&o, "Install", "error", EXTMGR_ERR_EXTRACT,
		    "package extraction: %s", why);
		rc = FETCH_RETRY;	/* ours, not the package's */
		goto done;
	}
	if (package_is_type(x, g, why, sizeof(why)) == -1) {
		log_warnx("%s: %s", name, why);
		outcome_set(&o, "Install", "error", MANIFEST_ERR_INVALID, "%s",
		    why);
		if (unpack_remove_tree(w->ext_fd, x->dir_name, err,
		    sizeof(err)) == -1)
			log_warnx("%s", err);
		goto done;		/* FETCH_FAILED: this package is not it */
	}
	if (!policy_still_allows(w, g, rec, why, sizeof(why))) {
		log_info("%s: %s", name, why);
		outcome_set(&o, state_str(rec, "version") == NULL ? "Install" :
		    "Update", "error", EXTMGR_ERR_REFUSED, "%s", why);
		if (unpack_remove_tree(w->ext_fd, x->dir_name, err,
		    sizeof(err)) == -1)
			log_warnx("%s", err);
		rc = FETCH_RETRY;	/* refused again before a download */
		goto done;
	}
	log_info("%s: %llu bytes verified (publisher %s, signed as %s %s) and "
	    "unpacked", file, (unsigned long long)g->size, g->publisher,
	    g->type, g->version);
	outcome_set(&o, "Verify", "success", 0, "package %s verified: size, "
	    "SHA-256 and signature by %s as type %s version %s", file,
	    g->publisher, g->type, g->version);
	report(w, name, rec, g->seq, g->version, &o);
	rc = FETCH_OK;
 done:
	if (rc != FETCH_OK)
		report(w, name, rec, g->seq, g->version, &o);
	free(sig);
	return rc;
}

/* --- the operations ------------------------------------------------------- */

static void
mark_failed(struct worker *w, json_t *rec, const struct goal_ext *g)
{
	state_set_int(rec, "failedSeq", g->seq);
	state_set_str(rec, "failedVersion", g->version);
	state_set_str(rec, "step", "");
	worker_save(w);
}

static void
set_state(struct worker *w, json_t *rec, const char *handler_state,
    const char *step)
{
	if (handler_state != NULL)
		state_set_str(rec, "handlerState", handler_state);
	if (step != NULL)
		state_set_str(rec, "step", step);
	worker_save(w);
}

/*
 * Install (when not installed yet), then enable with g's seq.  Both get
 * AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE: NOT_RUN, or after an upgrade
 * the old version's uninstall exit code (kept in rec until the enable has
 * run, so that a restart gives it again).
 */
static void
install_enable(struct worker *w, const char *name, json_t *rec,
    const struct goal_ext *g)
{
	struct ext_where	 x;
	struct outcome		 o;
	char			 err[512], uninstall_exit[80];
	const char		*hs, *env[2] = { uninstall_exit, NULL };
	int			 cont, with_install;

	memset(&o, 0, sizeof(o));
	ext_where(w, g->publisher, g->type, g->version, &x);
	snprintf(uninstall_exit, sizeof(uninstall_exit),
	    "AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE=%.16s",
	    state_str(rec, "uninstallExitCode") ?: WORKER_NOT_RUN);
	hs = state_str(rec, "handlerState");
	if (strcmp(hs, "NotInstalled") == 0) {
		set_state(w, rec, NULL, "Install");
		if (handler_check_exec(w->ext_dir, err, sizeof(err)) == -1) {
			outcome_set(&o, "Install", "error", 1007, "%s", err);
			goto fail;
		}
		if (write_settings(w, &x, g, &o) == -1) {
			o.op = "Install";
			goto fail;
		}
		outcome_set(&o, "Install", "transitioning", 0, "installing %s",
		    x.dir_name);
		report(w, name, rec, g->seq, g->version, &o);
		if (run_op(w, &x, g->version, MANIFEST_OP_INSTALL, g->seq, NULL,
		    env, &o) == -1)
			goto fail;
		set_state(w, rec, "Installed", "Enable");
		report(w, name, rec, g->seq, g->version, &o);
	}
	(void)ext_manifest(&x, &cont, &with_install);
	set_state(w, rec, NULL, "Enable");
	if (write_settings(w, &x, g, &o) == -1)
		goto fail;
	outcome_set(&o, "Enable", "transitioning", 0, "enabling %s with "
	    "sequence number %lld", x.dir_name, g->seq);
	report(w, name, rec, g->seq, g->version, &o);
	if (run_op(w, &x, g->version, MANIFEST_OP_ENABLE, g->seq, NULL,
	    env, &o) == -1)
		goto fail;
	json_object_del(rec, "uninstallExitCode");
	state_set_int(rec, "seq", g->seq);
	set_state(w, rec, "Enabled", "");
	(void)status_outcome(&x, g->seq, w->s->heartbeat_stale_seconds, &o);
	if (strcmp(o.status, "error") == 0)
		mark_failed(w, rec, g);
	report(w, name, rec, g->seq, g->version, &o);
	return;
 fail:
	if (o.status == NULL || strcmp(o.status, "error") != 0)
		o.status = "error";
	json_object_del(rec, "uninstallExitCode");
	mark_failed(w, rec, g);
	report(w, name, rec, g->seq, g->version, &o);
}

/*
 * Disable (if enabled) and uninstall version of rec, then its directory
 * goes whatever the handler said, as the VM agent's handle_uninstall does:
 * a failing or hanging handler must not keep forever an extension the
 * cloud or the operator removed.  Each failure is logged and said in
 * failed ("" when none).
 */
static void
remove_version(struct worker *w, const char *name, json_t *rec,
    const char *version, long long seq, char *failed, size_t len)
{
	struct ext_where	 x;
	struct outcome		 o;
	char			 err[512];
	size_t			 n;

	failed[0] = '\0';
	memset(&o, 0, sizeof(o));
	/* The handler runs with the settings it was last enabled with. */
	if (state_int(rec, "seq", -1) >= 0)
		seq = state_int(rec, "seq", -1);
	ext_where(w, state_str(rec, "publisher"), state_str(rec, "type"),
	    version, &x);
	if (strcmp(state_str(rec, "handlerState"), "Enabled") == 0) {
		if (run_op(w, &x, version, MANIFEST_OP_DISABLE, seq, NULL,
		    NULL, &o) == -1) {
			log_warnx("%s: disable failed, uninstalling anyway: %s",
			    name, o.message);
			snprintf(failed, len, "disable failed: %.1800s",
			    o.message);
		}
		set_state(w, rec, "Installed", NULL);
	}
	if (strcmp(state_str(rec, "handlerState"), "NotInstalled") != 0 &&
	    run_op(w, &x, version, MANIFEST_OP_UNINSTALL, seq, NULL,
	    NULL, &o) == -1) {
		log_warnx("%s: uninstall failed, removed anyway: %s", name,
		    o.message);
		n = strlen(failed);
		snprintf(failed + n, len - n, "%suninstall failed: %.1800s",
		    n > 0 ? "; " : "", o.message);
	}
	set_state(w, rec, "NotInstalled", NULL);
	if (unpack_remove_tree(w->ext_fd, x.dir_name, err, sizeof(err)) == -1)
		log_warnx("%s: %s", x.dir_name, err);
}

/* desiredState absent (or a local removal): disable, uninstall, gone.
 * A handler's failure is in the report; the removal completes. */
static void
delete_ext(struct worker *w, const char *name, json_t *rec, long long seq,
    const char *why)
{
	struct outcome	 o;
	char		 version[80], failed[WORKER_MESSAGE_MAX];

	memset(&o, 0, sizeof(o));
	failed[0] = '\0';
	if (state_str(rec, "version") != NULL) {
		snprintf(version, sizeof(version), "%s",
		    state_str(rec, "version"));
		set_state(w, rec, NULL, "Remove");
		outcome_set(&o, "Uninstall", "transitioning", 0, "removing %s",
		    version);
		report(w, name, rec, seq, version, &o);
		remove_version(w, name, rec, version, seq, failed,
		    sizeof(failed));
		state_set_str(rec, "version", NULL);
		state_set_int(rec, "seq", -1);
		set_state(w, rec, "NotInstalled", "");
	} else
		snprintf(version, sizeof(version), "%s",
		    json_string_value(json_object_get(json_object_get(rec,
		    "report"), "version")) ?: "");
	if (failed[0] != '\0')
		outcome_set(&o, "Uninstall", "success", 0, "%s; its files "
		    "removed anyway: %s", why, failed);
	else
		outcome_set(&o, "Uninstall", "success", 0, "%s", why);
	report(w, name, rec, seq, version, &o);
}

/*
 * The VM agent's copy_status_files, before the new version's update: the
 * old version's mrseq and status/ into the new one's, so that a handler
 * (HandlerUtil) knows which sequence number it last ran.  Again after a
 * restart: each file is written whole, atomically.  0, or -1 with o filled.
 */
static int
copy_status(const struct ext_where *xo, const struct ext_where *xn,
    struct outcome *o)
{
	char	err[512];
	int	ofd, nfd = -1, rc = -1;

	if ((ofd = safedir_open(xo->ext_path, err, sizeof(err))) == -1 ||
	    (nfd = safedir_open(xn->ext_path, err, sizeof(err))) == -1 ||
	    handler_copy_status(ofd, nfd, err, sizeof(err)) == -1)
		outcome_set(o, "Update", "error", 1008, "copying mrseq and "
		    "status/ from %s to %s: %s", xo->dir_name, xn->dir_name,
		    err);
	else
		rc = 0;
	if (ofd != -1)
		close(ofd);
	if (nfd != -1)
		close(nfd);
	return rc;
}

/*
 * The update, run as the VM agent's _update_extension_handler_and_return_if_failed
 * chooses it: to a higher version, the new version's update, told the old
 * one as AZURE_GUEST_AGENT_UPDATING_FROM_VERSION; otherwise (a downgrade),
 * the installed, higher version's own update from its directory, told the
 * lower version as both VERSION and UPDATING_FROM_VERSION (the VM agent
 * gives it so; handlers written for it expect that).  Either way with g's
 * sequence number.  0, or -1 with o filled.
 */
static int
run_update(struct worker *w, const struct goal_ext *g,
    const struct ext_where *xo, const struct ext_where *xn, const char *from,
    const char *const *env, struct outcome *o)
{
	char	why[WORKER_MESSAGE_MAX];

	if (goal_version_cmp(g->version, from) > 0)
		return run_op(w, xn, g->version, MANIFEST_OP_UPDATE, g->seq,
		    &(struct update_versions){ g->version, from }, env, o);
	if (run_op(w, xo, from, MANIFEST_OP_UPDATE, g->seq,
	    &(struct update_versions){ g->version, g->version }, env, o) == 0)
		return 0;
	snprintf(why, sizeof(why), "%s", o->message);
	snprintf(o->message, sizeof(o->message), "downgrade to %s: the update "
	    "of %s failed: %.3800s", g->version, from, why);
	return -1;
}

static void
upgrade_forget(struct worker *w, json_t *rec)
{
	json_object_del(rec, "upgradeFrom");
	json_object_del(rec, "upgradeTo");
	json_object_del(rec, "upgradeStep");
	json_object_del(rec, "upgradeDisableExit");
	worker_save(w);
}

/* From the installed version to g's: disable old, copy status, update
 * (the new version's, or in a downgrade the old one's: run_update),
 * uninstall old, install new, enable new.  A failure stops it, except
 * the old version's disable or uninstall when the new manifest says
 * continueOnUpdateFailure.  Each step is recorded first, so that a restart
 * takes it up again. */
static void
upgrade_ext(struct worker *w, const char *name, json_t *rec,
    const struct goal_ext *g)
{
	struct ext_where	 xo, xn;
	struct outcome		 o;
	char			 from[80], err[512], code[16];
	char			 disable_exit[80];
	const char		*env[2] = { disable_exit, NULL };
	long long		 step;
	int			 cont = 0, with_install = 1;

	memset(&o, 0, sizeof(o));
	if (state_str(rec, "upgradeTo") == NULL ||
	    strcmp(state_str(rec, "upgradeTo"), g->version) != 0) {
		state_set_str(rec, "upgradeFrom", state_str(rec, "version"));
		state_set_str(rec, "upgradeTo", g->version);
		state_set_int(rec, "upgradeStep", 0);
		set_state(w, rec, NULL, "Upgrade");
	}
	snprintf(from, sizeof(from), "%s", state_str(rec, "upgradeFrom"));
	ext_where(w, g->publisher, g->type, from, &xo);
	ext_where(w, g->publisher, g->type, g->version, &xn);
	step = state_int(rec, "upgradeStep", 0);
	if (step == 0) {
		switch (fetch_package(w, name, rec, g, &xn)) {
		case FETCH_OK:
			break;
		case FETCH_FAILED:
			mark_failed(w, rec, g);
			goto abort_clean;
		case FETCH_RETRY:	/* at the next pass */
			goto abort_clean;
		}
		state_set_int(rec, "upgradeStep", step = 1);
		worker_save(w);
	}
	if (ext_manifest(&xn, &cont, &with_install) == -1) {
		outcome_set(&o, "Update", "error", MANIFEST_ERR_INVALID,
		    "%s: no valid HandlerManifest.json", xn.dir_name);
		goto abort_new;
	}
	if (step == 1) {
		outcome_set(&o, "Update", "transitioning", 0, "%s %s to %s",
		    goal_version_cmp(g->version, from) > 0 ? "upgrading" :
		    "downgrading", from, g->version);
		report(w, name, rec, g->seq, g->version, &o);
		/* The update is told how the old disable went. */
		snprintf(code, sizeof(code), "%s", WORKER_NOT_RUN);
		if (strcmp(state_str(rec, "handlerState"), "Enabled") == 0) {
			if (run_op(w, &xo, from, MANIFEST_OP_DISABLE, state_int(rec,
			    "seq", 0), NULL, NULL, &o) == -1 && !cont) {
				o.op = "Disable";
				snprintf(err, sizeof(err), "upgrade to %s aborted: "
				    "disable of %s failed: ", g->version, from);
				memmove(o.message + strlen(err), o.message,
				    sizeof(o.message) - strlen(err));
				memcpy(o.message, err, strlen(err));
				o.message[sizeof(o.message) - 1] = '\0';
				goto abort_new;
			}
			if (strcmp(o.status, "error") == 0)
				log_warnx("%s: disable of %s failed, going on "
				    "(continueOnUpdateFailure): %s", name, from,
				    o.message);
			snprintf(code, sizeof(code), "%d",
			    strcmp(o.status, "error") == 0 ? o.exit_code : 0);
			set_state(w, rec, "Installed", NULL);
		}
		state_set_str(rec, "upgradeDisableExit", code);
		state_set_int(rec, "upgradeStep", step = 2);
		worker_save(w);
	}
	if (step == 2) {
		if (write_settings(w, &xn, g, &o) == -1 ||
		    copy_status(&xo, &xn, &o) == -1)
			goto failed_upgrade;
		/* continueOnUpdateFailure covers the old handler's disable
		 * and uninstall only: a new version whose update (or, in a
		 * downgrade, the old one's) failed is not installed (the VM
		 * agent's update raises regardless). */
		snprintf(disable_exit, sizeof(disable_exit),
		    "AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE=%.16s",
		    state_str(rec, "upgradeDisableExit") ?: WORKER_NOT_RUN);
		if (run_update(w, g, &xo, &xn, from, env, &o) == -1)
			goto failed_upgrade;
		state_set_int(rec, "upgradeStep", step = 3);
		worker_save(w);
	}
	if (step == 3) {
		if (run_op(w, &xo, from, MANIFEST_OP_UNINSTALL, state_int(rec,
		    "seq", 0), NULL, NULL, &o) == -1) {
			if (!cont)
				goto failed_upgrade;
			log_warnx("%s: uninstall of %s failed, going on "
			    "(continueOnUpdateFailure): %s", name, from,
			    o.message);
			snprintf(code, sizeof(code), "%d", o.exit_code);
		} else
			snprintf(code, sizeof(code), "0");
		/* For the new version's install and enable. */
		state_set_str(rec, "uninstallExitCode", code);
		if (unpack_remove_tree(w->ext_fd, xo.dir_name, err,
		    sizeof(err)) == -1)
			log_warnx("%s: %s", xo.dir_name, err);
		state_set_str(rec, "version", g->version);
		state_set_str(rec, "handlerState", with_install ? "NotInstalled" :
		    "Installed");
		state_set_int(rec, "seq", -1);
		state_set_int(rec, "upgradeStep", step = 4);
		worker_save(w);
	}
	upgrade_forget(w, rec);
	set_state(w, rec, NULL, "");
	install_enable(w, name, rec, g);
	return;
 failed_upgrade:
	/* The old version stays the installed one; the new one's tree goes
	 * (the state no longer names it, and a delete would leave it). */
	o.op = "Update";
	o.status = "error";
	if (o.code == 0)
		o.code = 1008;
	if (unpack_remove_tree(w->ext_fd, xn.dir_name, err, sizeof(err)) == -1)
		log_warnx("%s: %s", xn.dir_name, err);
	state_set_str(rec, "handlerState", "FailedUpgrade");
	upgrade_forget(w, rec);
	mark_failed(w, rec, g);
	report(w, name, rec, g->seq, g->version, &o);
	return;
 abort_new:
	o.status = "error";
	if (o.code == 0)
		o.code = 1008;
	if (unpack_remove_tree(w->ext_fd, xn.dir_name, err, sizeof(err)) == -1)
		log_warnx("%s: %s", xn.dir_name, err);
	upgrade_forget(w, rec);
	mark_failed(w, rec, g);
	report(w, name, rec, g->seq, g->version, &o);
	return;
 abort_clean:
	upgrade_forget(w, rec);
	set_state(w, rec, NULL, "");
}

static void
refuse(struct worker *w, const char *name, json_t *rec, const struct goal_ext *g,
    const char *op, const char *reason)
{
	struct outcome	o;

	memset(&o, 0, sizeof(o));
	outcome_set(&o, op, "error", EXTMGR_ERR_REFUSED, "%s", reason);
	report(w, name, rec, g->seq, g->version, &o);
}

/*
 * Another installed extension whose handler directories (extensions/P.T-V,
 * logs/P.T) would be g's: the same publisher and type under another name,
 * or a pair that joins alike ("A.B" "C" and "A" "B.C").  Its name, or NULL.
 * Installing g would replace that one's handler and its delete remove it.
 */
static const char *
handler_taken(struct worker *w, const struct goal_ext *g)
{
	struct ext_where	 x, y;
	const char		*name, *p, *t;
	json_t			*rec;

	ext_where(w, g->publisher, g->type, "", &x);
	json_object_foreach(state_exts(&w->st), name, rec) {
		if (strcmp(name, g->name) == 0 ||
		    state_str(rec, "version") == NULL ||
		    (p = state_str(rec, "publisher")) == NULL ||
		    (t = state_str(rec, "type")) == NULL)
			continue;
		ext_where(w, p, t, "", &y);
		if (strcmp(x.handler_name, y.handler_name) == 0)
			return name;
	}
	return NULL;
}

/* Brings one extension of the goal state to it. */
static void
reconcile_one(struct worker *w, const struct goal_ext *g)
{
	json_t		*rec;
	struct ext_where x;
	struct outcome	 o;
	char		 reason[512];
	const char	*version, *hs, *other;
	enum policy_op	 pop;
	enum fetch_result fr;

	memset(&o, 0, sizeof(o));
	rec = state_ext(&w->st, g->name);
	if (rec != NULL && (strcasecmp(state_str(rec, "publisher"),
	    g->publisher) != 0 || strcasecmp(state_str(rec, "type"),
	    g->type) != 0) && state_str(rec, "version") != NULL) {
		/* The same name for another handler: remove the old first. */
		delete_ext(w, g->name, rec, g->seq, "replaced by another "
		    "publisher or type");
		if (state_str(rec, "version") != NULL)
			return;
		state_ext_remove(&w->st, g->name);
		rec = NULL;
	}
	if (rec == NULL && (rec = state_ext_make(&w->st, g->name, g->publisher,
	    g->type)) == NULL)
		return;
	if (rec != NULL && state_str(rec, "version") == NULL) {
		state_set_str(rec, "publisher", g->publisher);
		state_set_str(rec, "type", g->type);
	}
	version = state_str(rec, "version");
	hs = state_str(rec, "handlerState");
	if (!g->present) {
		/* No failedVersion "absent" check: a delete always completes
		 * now, and one an earlier extmgr gave up on goes on. */
		if (version != NULL && !policy_allowed(&w->ac, g->publisher,
		    g->type, POLICY_DELETE, reason, sizeof(reason))) {
			refuse(w, g->name, rec, g, "Uninstall", reason);
			return;
		}
		delete_ext(w, g->name, rec, g->seq, version ? "uninstalled" :
		    "not installed");
		return;
	}
	if (state_int(rec, "removedSeq", -1) == g->seq)
		return;
	if (state_int(rec, "failedSeq", -1) == g->seq &&
	    state_str(rec, "failedVersion") != NULL &&
	    strcmp(state_str(rec, "failedVersion"), g->version) == 0)
		return;
	/* An interrupted upgrade goes on, whatever the lists say now: half
	 * an upgrade is worse than either version.  The kill switch still
	 * stops it (refused below, as an Update). */
	if (w->ac.extensions_enabled && state_str(rec, "upgradeTo") != NULL &&
	    strcmp(state_str(rec, "upgradeTo"), g->version) == 0 &&
	    state_int(rec, "upgradeStep", 0) > 0) {
		upgrade_ext(w, g->name, rec, g);
		return;
	}
	if (version != NULL && strcmp(version, g->version) == 0 &&
	    strcmp(hs, "Enabled") == 0 && state_int(rec, "seq", -1) == g->seq)
		return;		/* as the cloud wants it */
	pop = version == NULL ? POLICY_INSTALL : strcmp(version, g->version) ?
	    POLICY_UPGRADE : POLICY_RECONFIGURE;
	if (!policy_allowed(&w->ac, g->publisher, g->type, pop, reason,
	    sizeof(reason))) {
		refuse(w, g->name, rec, g, pop == POLICY_INSTALL ? "Install" :
		    pop == POLICY_UPGRADE ? "Update" : "Enable", reason);
		return;
	}
	if (pop == POLICY_UPGRADE) {
		upgrade_ext(w, g->name, rec, g);
		return;
	}
	if (version == NULL && (other = handler_taken(w, g)) != NULL) {
		snprintf(reason, sizeof(reason), "refused: extension %s already "
		    "holds the handler %s.%s (one extension per handler)",
		    other, g->publisher, g->type);
		refuse(w, g->name, rec, g, "Install", reason);
		return;
	}
	if (version == NULL) {
		ext_where(w, g->publisher, g->type, g->version, &x);
		set_state(w, rec, "NotInstalled", "Download");
		if ((fr = fetch_package(w, g->name, rec, g, &x)) != FETCH_OK) {
			if (fr == FETCH_FAILED)
				mark_failed(w, rec, g);
			return;
		}
		state_set_str(rec, "version", g->version);
		set_state(w, rec, "NotInstalled", "Install");
	}
	install_enable(w, g->name, rec, g);
}

/*
 * The VM agent's report_ext_handler_status at every pass: an enabled
 * extension's status/<seq>.status and heartbeat read again, whatever they
 * said before (a success may turn into an error, a heartbeat go stale),
 * and reported when that changes the report: report() compares with the
 * last one kept in the state, so nothing is sent while nothing changes.
 * Only while the last report is that enable's: a failed reconfiguration,
 * a refusal or an upgrade's error stays the report.
 */
static void
status_pass(struct worker *w, const struct goal_ext *g)
{
	json_t		*rec = state_ext(&w->st, g->name), *rep;
	struct ext_where x;
	struct outcome	 o;
	const char	*version;
	long long	 seq;

	if (rec == NULL || !g->present ||
	    (version = state_str(rec, "version")) == NULL ||
	    strcmp(state_str(rec, "handlerState"), "Enabled") != 0 ||
	    (seq = state_int(rec, "seq", -1)) < 0)
		return;
	rep = json_object_get(rec, "report");
	if (strcmp(json_string_value(json_object_get(rep, "operation")) ?: "",
	    "Enable") != 0 || state_int(rep, "sequenceNumber", -1) != seq ||
	    strcmp(json_string_value(json_object_get(rep, "version")) ?: "",
	    version) != 0)
		return;
	memset(&o, 0, sizeof(o));
	outcome_set(&o, "Enable", "transitioning", 0, "%s",
	    json_string_value(json_object_get(rep, "message")) ?: "");
	ext_where(w, g->publisher, g->type, version, &x);
	if (status_outcome(&x, seq, w->s->heartbeat_stale_seconds, &o) == -1)
		return;		/* unread: the last report stands */
	report(w, g->name, rec, seq, version, &o);
}

/* azcmagent extension remove NAME: a file requests/NAME. */
static void
local_removals(struct worker *w)
{
	DIR		*d;
	struct dirent	*de;
	json_t		*rec;
	const struct goal_ext *g;
	char		 names[64][256];
	int		 fd, n = 0, i;
	char		 err[256];

	if ((fd = safedir_make(w->own_fd, EXTMGR_REQ_DIR, 0700,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err))) == -1) {
		log_warnx("%s: %s", EXTMGR_REQ_DIR, err);
		return;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL && n < 64)
		if (goal_name_ok(de->d_name, "._-", 64))
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	for (i = 0; i < n; i++) {
		if ((rec = state_ext(&w->st, names[i])) != NULL) {
			/* Before the goal is fetched (the cloud may be
			 * away): the seq it was last enabled with. */
			g = goal_find(&w->goal, names[i]);
			log_info("%s: removed at the operator's request",
			    names[i]);
			state_set_int(rec, "removedSeq", g ? g->seq :
			    state_int(rec, "seq", -1));
			worker_save(w);
			delete_ext(w, names[i], rec, g ? g->seq : state_int(rec,
			    "seq", 0), "removed locally (azcmagent extension "
			    "remove)");
		}
		unlinkat(dirfd(d), names[i], 0);
	}
	closedir(d);
}

/* Installed extensions the goal state no longer names: the cloud has
 * forgotten them, so they go; records with nothing installed and a sent
 * report go too. */
static void
forgotten(struct worker *w)
{
	const char	*name;
	json_t		*rec, *tmp;

	json_object_foreach_safe(state_exts(&w->st), tmp, name, rec) {
		if (goal_find(&w->goal, name) != NULL)
			continue;
		/* The kill switch: the cloud removes nothing either. */
		if (state_str(rec, "version") != NULL &&
		    !w->ac.extensions_enabled) {
			log_info("%s: no longer in the goal state, kept: "
			    "extensions.enabled = false runs no handler", name);
			continue;
		}
		if (state_str(rec, "version") != NULL) {
			delete_ext(w, name, rec, state_int(rec, "seq", 0),
			    "no longer in the goal state");
			if (state_str(rec, "version") != NULL)
				continue;
		}
		if (json_object_get(rec, "report") == NULL ||
		    json_is_true(json_object_get(json_object_get(rec, "report"),
		    "sent"))) {
			state_ext_remove(&w->st, name);
			worker_save(w);
		}
	}
}

/* The cloud holds the settings certificate we hold, or learns it now. */
static int
register_certificate(struct worker *w)
{
	json_t		*body, *ans;
	char		 err[1024], *answer;
	size_t		 alen;
	long		 status;
	const char	*have;

	have = json_string_value(json_object_get(w->st.doc,
	    "settingsThumbprint"));
	if (have != NULL && strcmp(have, w->certs.thumbprint) == 0 &&
	    json_is_true(json_object_get(w->st.doc, "settingsRegistered")))
		return 0;
	body = json_pack("{s:s}", "certificate", w->certs.cert_pem);
	status = cloud_call(&w->cloud, "PUT", "settingsCertificate", body,
	    &answer, &alen, err, sizeof(err));
	json_decref(body);
	if (status < 200 || status > 299) {
		free(answer);
		log_warnx("settings certificate: %s", err);
		return status == 0 ? -1 : 0;
	}
	ans = json_loadb(answer, alen, 0, NULL);
	free(answer);
	if (json_string_value(json_object_get(ans, "thumbprint")) != NULL &&
	    strcasecmp(json_string_value(json_object_get(ans, "thumbprint")),
	    w->certs.thumbprint) != 0)
		log_warnx("settings certificate: the cloud says thumbprint %s, "
		    "ours is %s", json_string_value(json_object_get(ans,
		    "thumbprint")), w->certs.thumbprint);
	json_decref(ans);
	json_object_set_new(w->st.doc, "settingsThumbprint",
	    json_string(w->certs.thumbprint));
	json_object_set_new(w->st.doc, "settingsRegistered", json_true());
	worker_save(w);
	log_info("settings certificate %s registered", w->certs.thumbprint);
	return 0;
}

static void
worker_said(const char *line, void *arg)
{
	(void)arg;
	log_warnx("%s", line);
}

static int
worker_dirs(struct worker *w)
{
	char	err[512], path[PATH_MAX];
	int	fd;

	if ((size_t)snprintf(w->own_dir, sizeof(w->own_dir), "%s/" EXTMGR_DIR,
	    w->state_dir) >= sizeof(w->own_dir) - 32) {
		log_warnx("%s: path too long", w->state_dir);
		return -1;
	}
	if ((size_t)snprintf(w->ext_dir, sizeof(w->ext_dir), "%s/"
	    EXTMGR_EXT_DIR, w->own_dir) >= sizeof(w->ext_dir) ||
	    (w->s->certs_dir != NULL ? (size_t)snprintf(w->certs_dir,
	    sizeof(w->certs_dir), "%s", w->s->certs_dir) :
	    (size_t)snprintf(w->certs_dir, sizeof(w->certs_dir), "%s/"
	    EXTMGR_CERTS_DIR, w->own_dir)) >= sizeof(w->certs_dir) ||
	    (size_t)snprintf(w->runs_dir, sizeof(w->runs_dir), "%s/"
	    EXTMGR_RUNS_DIR, w->own_dir) >= sizeof(w->runs_dir))
		return -1;
	if ((fd = safedir_open(w->state_dir, err, sizeof(err))) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	w->own_fd = safedir_make(fd, EXTMGR_DIR, 0700, SAFEDIR_KEEP_UID,
	    SAFEDIR_KEEP_GID, err, sizeof(err));
	close(fd);
	if (w->own_fd == -1 ||
	    (w->ext_fd = safedir_make(w->own_fd, EXTMGR_EXT_DIR, 0755,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err))) == -1 ||
	    (w->dl_fd = safedir_make(w->own_fd, EXTMGR_DL_DIR, 0700,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err))) == -1 ||
	    (fd = safedir_make(w->own_fd, EXTMGR_LOG_DIR, 0700,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err))) == -1) {
		log_warnx("%s/%s", w->own_dir, err);
		return -1;
	}
	close(fd);
	/* One pass at a time, even across two extmgrs: the lock goes with
	 * the process that held it. */
	while (flock(w->own_fd, LOCK_EX) == -1)
		if (errno != EINTR) {
			log_warn("%s: lock", w->own_dir);
			return -1;
		}
	/* What a worker killed while a handler ran left running: stopped
	 * before this pass runs that step again. */
	if ((fd = safedir_make(w->own_fd, EXTMGR_RUNS_DIR, 0700,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err))) == -1) {
		log_warnx("%s/%s", w->own_dir, err);
		return -1;
	}
	handler_kill_leftovers(fd, worker_said, NULL);
	close(fd);
	snprintf(path, sizeof(path), "%s", w->ext_dir);
	if (unpack_remove_stale(w->ext_fd, err, sizeof(err)) == -1)
		log_warnx("%s: %s", path, err);
	return 0;
}

/*
 * Every handler's CommandExecution.log cut past HANDLER_LOG_MAX, at each
 * pass: a daemon an enable started writes there long after the run (its
 * stdout and stderr are that file).  Nothing under logs/ is followed
 * through a symlink.
 */
static void
trim_logs(struct worker *w)
{
	struct dirent	*de;
	DIR		*d;
	char		 err[512];
	off_t		 cut;
	int		 lfd, fd;

	if ((lfd = openat(w->own_fd, EXTMGR_LOG_DIR, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(lfd)) == NULL) {
		close(lfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((fd = openat(lfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;
		if ((cut = handler_log_trim(fd, HANDLER_LOG_MAX, err,
		    sizeof(err))) == -1)
			log_warnx("%s/%s/%s", EXTMGR_LOG_DIR, de->d_name, err);
		else if (cut > 0)
			log_info("%s/%s/" HANDLER_LOG_FILE ": %lld bytes "
			    "removed, its last part kept", EXTMGR_LOG_DIR,
			    de->d_name, (long long)cut);
		close(fd);
	}
	closedir(d);
}

int
worker_run(const char *config_dir, const char *state_dir,
    const struct extmgr_settings *s)
{
	struct worker	 w;
	char		 err[1024], *answer = NULL;
	size_t		 alen;
	long		 status;
	json_t		*rec;
	const char	*name;
	int		 rc = WORKER_EXIT_FAIL, i;

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.config_dir = config_dir;
	w.state_dir = state_dir;
	w.own_fd = w.ext_fd = w.dl_fd = -1;
	if (agentconf_load(config_dir, &w.ac, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return WORKER_EXIT_FAIL;
	}
	if ((i = cloud_load(&w.cloud, state_dir, s->proxy,
	    s->cloud_timeout_seconds * 1000, err, sizeof(err))) != 0) {
		if (i == -1)
			log_warnx("%s", err);
		else
			log_debug("not connected: nothing to do");
		agentconf_clear(&w.ac);
		return i == 1 ? WORKER_EXIT_OK : WORKER_EXIT_FAIL;
	}
	if (worker_dirs(&w) == -1)
		goto done;
	trim_logs(&w);
	if (state_load(&w.st, w.own_fd, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		goto done;
	} else if (err[0] != '\0' && strstr(err, ".bad") != NULL)
		log_warnx("%s", err);
	if (certs_ensure(w.own_fd, &w.certs, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		goto done;
	}
	if ((w.base = event_base_new()) == NULL)
		goto done;
	/* The operator's own removals need no cloud: before any call to it. */
	local_removals(&w);
	if (register_certificate(&w) == -1) {
		rc = WORKER_EXIT_UNREACHABLE;
		goto done;
	}
	status = cloud_call(&w.cloud, "GET", "extensions", NULL, &answer, &alen,
	    err, sizeof(err));
	if (status == 0) {
		log_warnx("goal state: %s", err);
		rc = WORKER_EXIT_UNREACHABLE;
		goto done;
	}
	if (status != 200) {
		log_warnx("goal state: %s", err);
		goto done;
	}
	if (goal_parse(answer, alen, &w.goal, err, sizeof(err)) == -1) {
		log_warnx("goal state refused: %s", err);
		goto done;
	}
	log_debug("goal state %lld: %d extensions", w.goal.seq, w.goal.n);
	/* Reports a cloud did not take before go first. */
	json_object_foreach(state_exts(&w.st), name, rec)
		report_send(&w, name, rec);
	for (i = 0; i < w.goal.n; i++)
		reconcile_one(&w, &w.goal.ext[i]);
	for (i = 0; i < w.goal.n; i++)
		status_pass(&w, &w.goal.ext[i]);
	forgotten(&w);
	rc = w.unreachable ? WORKER_EXIT_UNREACHABLE : WORKER_EXIT_OK;
 done:
	free(answer);
	goal_clear(&w.goal);
	state_clear(&w.st);
	certs_clear(&w.certs);
	cloud_clear(&w.cloud);
	agentconf_clear(&w.ac);
	if (w.base != NULL)
		event_base_free(w.base);
	if (w.own_fd != -1)
		close(w.own_fd);
	if (w.ext_fd != -1)
		close(w.ext_fd);
	if (w.dl_fd != -1)
		close(w.dl_fd);
	return rc;
}
