/* engine.c -- guestconfig's evaluation: each resource tested, set when the mode applies, tested again, and reported with reasons; changes backed up and logged. */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "doc.h"

static void
add_reason(json_t *reasons, const char *code, const char *phrase)
{
	json_array_append_new(reasons, json_pack("{s:s, s:s}", "code", code,
	    "phrase", phrase));
}

void
gc_reason(struct gc_run *run, const char *what, const char *fmt, ...)
{
	char	 code[128], phrase[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(phrase, sizeof(phrase), fmt, ap);
	va_end(ap);
	snprintf(code, sizeof(code), "GC::%s::%s", run->code, what);
	add_reason(run->reasons, code, phrase);
}

/* s with anything but printable ASCII as '?', so that one change is one
 * line of the log whatever a path holds. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if (!isprint((unsigned char)*s))
			*s = '?';
}

static void
utc_now(char *buf, size_t len)
{
	time_t		 t = time(NULL);
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
gc_change(struct gc_run *run, const char *fmt, ...)
{
	char	 phrase[1024], line[1400], now[32];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	vsnprintf(phrase, sizeof(phrase), fmt, ap);
	va_end(ap);
	if (run->changes != NULL)
		json_array_append_new(run->changes, json_string(phrase));
	if (run->ctx->changelogfd == -1)
		return;
	utc_now(now, sizeof(now));
	n = snprintf(line, sizeof(line) - 1, "%s %s %s %s", now,
	    run->ctx->assignment ? run->ctx->assignment : "-", run->resource,
	    phrase);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n] = '\0';
	printable(line);
	line[n++] = '\n';
	/* one write(): O_APPEND keeps lines whole */
	if (write(run->ctx->changelogfd, line, n) == -1)
		return;
}

int
gc_backup(struct gc_run *run, const char *path, const void *data, size_t len,
    char *name, size_t namelen)
{
	char		 err[256], now[32];
	const char	*a = run->ctx->assignment ? run->ctx->assignment : "-";
	struct timespec	 ts;
	size_t		 i;
	int		 n;

	if (run->ctx->backupfd == -1) {
		snprintf(name, namelen, "-");
		return 0;
	}
	/* time to the nanosecond: two changes of one file in a run differ */
	utc_now(now, sizeof(now));
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(name, namelen, "%s.%09ld.%.64s.%s", now, ts.tv_nsec, a,
	    path);
	if (n < 0 || (size_t)n >= namelen || (size_t)n > NAME_MAX) {
		/* the path is long: its last 100 bytes are enough to tell */
		snprintf(name, namelen, "%s.%09ld.%s", now, ts.tv_nsec,
		    path + (strlen(path) > 100 ? strlen(path) - 100 : 0));
	}
	for (i = 0; name[i] != '\0'; i++)
		if (!isalnum((unsigned char)name[i]) && strchr("._-:",
		    name[i]) == NULL)
			name[i] = '_';
	if (atomicfile_writeat(run->ctx->backupfd, name, data, len, 0600,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID,
	    run->ctx->nosync ? ATOMICFILE_NOSYNC : 0, err, sizeof(err)) == -1) {
		gc_reason(run, "BACKUP", "%s: previous content not saved, so "
		    "not changed: %s", path, err);
		return -1;
	}
	return 0;
}

static int
check_test(const struct gc_check *c, struct gc_run *run)
{
	run->code = c->type->code;
	return c->type->test(c->props, run);
}

/*
 * Whether c holds, with reasons saying why in run->reasons: those of the
 * kids that decided it (for allOf that fails, the failing kids; for anyOf
 * that holds, the holding ones), so that a reason never contradicts the
 * status it explains.
 */
static int
cond_eval(const struct gc_cond *c, struct gc_run *run)
{
	json_t		*saved = run->reasons, **kid, *r;
	char		 phrase[1200];
	size_t		 i, k;
	int		 ok = 0, any = 0, all = 1, *held;

	switch (c->kind) {
	case GC_COND_CHECK:
		return check_test(&c->check, run) == 1;
	case GC_COND_NOT:
	case GC_COND_ALLOF:
	case GC_COND_ANYOF:
		break;
	}
	kid = calloc(c->nkids, sizeof(*kid));
	held = calloc(c->nkids, sizeof(*held));
	if (kid == NULL || held == NULL)
		goto done;
	for (i = 0; i < c->nkids; i++) {
		if ((kid[i] = json_array()) == NULL)
			goto done;
		run->reasons = kid[i];
		held[i] = cond_eval(c->kids[i], run);
		run->reasons = saved;
		if (held[i])
			any = 1;
		else
			all = 0;
	}
	ok = c->kind == GC_COND_NOT ? !held[0] : c->kind == GC_COND_ALLOF ?
	    all : any;
	for (i = 0; i < c->nkids; i++) {
		if (c->kind != GC_COND_NOT && held[i] != ok)
			continue;
		json_array_foreach(kid[i], k, r) {
			if (c->kind != GC_COND_NOT) {
				json_array_append(saved, r);
				continue;
			}
			snprintf(phrase, sizeof(phrase), "%s %s", ok ?
			    "as wanted, not so:" : "found, expected not:",
			    json_string_value(json_object_get(r, "phrase")));
			add_reason(saved, ok ? "GC::AUDIT::COMPLIANT" :
			    "GC::AUDIT::NOT", phrase);
		}
	}
done:
	run->reasons = saved;
	for (i = 0; kid != NULL && i < c->nkids; i++)
		json_decref(kid[i]);
	free(kid);
	free(held);
	return ok;
}

/*
 * The resource's Test: its own check, then its audit condition; 1 when
 * both hold.  Reasons into run->reasons.
 */
static int
res_test(const struct gc_res *res, struct gc_run *run)
{
	json_t	*reasons, *saved;
	int	 ok = 1;

	if (res->check.type != NULL && check_test(&res->check, run) != 1)
		ok = 0;
	if (res->audit != NULL) {
		saved = run->reasons;
		if ((reasons = json_array()) == NULL)
			return 0;
		run->reasons = reasons;
		if (!cond_eval(res->audit, run)) {
			ok = 0;
			add_reason(saved, "GC::AUDIT::CONDITION", "the audit "
			    "condition does not hold:");
		}
		json_array_extend(saved, reasons);
		json_decref(reasons);
		run->reasons = saved;
	}
	return ok;
}

static const char *
status_word(int ok)
{
	return ok ? "Compliant" : "NonCompliant";
}

static json_t *
res_evaluate(const struct gc_res *res, const struct gc_ctx *ctx, int *tested,
    int *changed)
{
	struct gc_run	 run;
	json_t		*out, *reasons, *changes = NULL;
	int		 ok, set_failed = 0;

	memset(&run, 0, sizeof(run));
	run.ctx = ctx;
	run.resource = res->resource_id;
	out = json_pack("{s:s, s:[], s:{s:s}}", "complianceStatus",
	    "NonCompliant", "reasons", "properties", "ResourceId",
	    res->resource_id);
	if (out == NULL)
		return NULL;
	reasons = json_object_get(out, "reasons");
	*tested = 0;
	if (res->invalid != NULL) {
		add_reason(reasons, res->invalid_code, res->invalid);
		return out;
	}
	run.reasons = reasons;
	ok = res_test(res, &run);
	*tested = ok;
	if (ok || !ctx->apply || (ctx->stop != NULL && ctx->stop(ctx->stop_arg)))
		goto done;
	run.code = res->check.type != NULL ? res->check.type->code : "AUDIT";
	if (res->check.type == NULL || res->check.type->set == NULL) {
		gc_reason(&run, "NOTSUPPORTED", "%s cannot be applied: %s is "
		    "audit only", res->resource_id, res->check.type != NULL ?
		    res->check.type->name : "an audit condition");
		goto done;
	}
	if ((changes = json_array()) == NULL)
		goto done;
	run.changes = changes;
	if (res->check.type->set(res->check.props, &run) == -1)
		set_failed = 1;
	run.changes = NULL;
	*changed += json_array_size(changes);
	if (json_array_size(changes) > 0)
		json_object_set(out, "changes", changes);
	/* Get: what is there now, after what was found before. */
	if (json_array_size(changes) > 0) {
		add_reason(reasons, "GC::RESOURCE::APPLIED", set_failed ?
		    "changes made in part; now:" : "changes made; now:");
		ok = res_test(res, &run);
	}
done:
	json_decref(changes);
	json_object_set_new(out, "complianceStatus",
	    json_string(status_word(ok)));
	return out;
}

json_t *
gc_evaluate(struct gc_doc *doc, const struct gc_ctx *ctx)
{
	json_t	*out, *resources, *r;
	size_t	 i;
	int	 all_tested = 1, all = 1, tested, changed = 0;

	if ((out = json_object()) == NULL || (resources = json_array()) ==
	    NULL) {
		json_decref(out);
		return NULL;
	}
	json_object_set_new(out, "resources", resources);
	for (i = 0; i < doc->nres; i++) {
		if (ctx->stop != NULL && ctx->stop(ctx->stop_arg)) {
			json_object_set_new(out, "stopped", json_true());
			all = all_tested = 0;
			break;
		}
		if ((r = res_evaluate(&doc->res[i], ctx, &tested, &changed)) ==
		    NULL) {
			json_decref(out);
			return NULL;
		}
		if (!tested)
			all_tested = 0;
		if (strcmp(json_string_value(json_object_get(r,
		    "complianceStatus")), "Compliant") != 0)
			all = 0;
		json_array_append_new(resources, r);
	}
	if (json_object_set_new(out, "complianceStatus",
	    json_string(status_word(all))) == -1 ||
	    json_object_set_new(out, "testComplianceStatus",
	    json_string(status_word(all_tested))) == -1 ||
	    json_object_set_new(out, "changed", json_integer(changed)) == -1) {
		json_decref(out);
		return NULL;
	}
	return out;
}
