/* guestconfig.c -- guest configuration assignments of each machine and the reports the machines post, kept in guestconfig.json. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "atomicfile.h"
#include "cloudsim.h"
#include "goalstate.h"
#include "guestconfig.h"
#include "httpd.h"
#include "log.h"
#include "registry.h"

#define GC_FILE_MAX		(64 << 20)	/* a larger file is not ours */
#define GC_FILE_MODE		0644
#define GC_VERSION		1
#define GC_URI_MAX		2048
#define GC_VERSION_MAX		64
#define GC_PARAMS_MAX		100	/* configurationParameter entries */
#define GC_PARAM_NAME_MAX	256
#define GC_PARAM_VALUE_MAX	4096
#define GC_SEGMENT		"guestConfigurationAssignments"

struct guestconfig {
	char			*path;		/* <state-dir>/guestconfig.json */
	struct registry		*registry;
	json_t			*machines;	/* {M: {"goalStateSeq", "assignments": [...]}} */
};

static const char *const gc_types[] = {
	"Audit", "ApplyAndMonitor", "ApplyAndAutoCorrect", NULL
};
static const char *const gc_statuses[] = {
	"Compliant", "NonCompliant", "Pending", NULL
};

static int
gc_one_of(const char *s, const char *const *set)
{
	int	i;

	for (i = 0; s != NULL && set[i] != NULL; i++)
		if (strcmp(s, set[i]) == 0)
			return 1;
	return 0;
}

/*
 * The machine and assignment names of a path under .../machines/M/
 * guestConfigurationAssignments[/A[/...]]; "" where the path has none.
 * -1 when the path is not of that shape (the route table said it was).
 */
static int
gc_path_names(const char *path, char *machine, size_t mlen, char *name,
    size_t nlen)
{
	const char	*p, *seg, *end;
	size_t		 n;

	machine[0] = name[0] = '\0';
	if ((p = strstr(path, "/machines/")) == NULL)
		return -1;
	seg = p + strlen("/machines/");
	if ((end = strchr(seg, '/')) == NULL || (n = (size_t)(end - seg)) == 0 ||
	    n >= mlen)
		return -1;
	memcpy(machine, seg, n);
	machine[n] = '\0';
	if (strncmp(end, "/" GC_SEGMENT, strlen("/" GC_SEGMENT)) != 0)
		return -1;
	seg = end + 1 + strlen(GC_SEGMENT);
	if (*seg == '\0')
		return 0;
	if (*seg != '/')
		return -1;
	seg++;
	if ((end = strchr(seg, '/')) == NULL)
		end = seg + strlen(seg);
	if ((n = (size_t)(end - seg)) == 0 || n >= nlen)
		return -1;
	memcpy(name, seg, n);
	name[n] = '\0';
	return 0;
}

/*
 * The machine's entry, made when make is set and it is missing.  The
 * assignments of an earlier machine of that name (deleted, then registered
 * again) are not this machine's: they go.
 */
static json_t *
gc_machine(struct guestconfig *gc, const char *machine, int make)
{
	struct registry_machine	*rm;
	json_t			*m;

	rm = registry_find(gc->registry, machine);
	if ((m = json_object_get(gc->machines, machine)) != NULL && rm != NULL &&
	    json_integer_value(json_object_get(m, "registered")) !=
	    (json_int_t)rm->registered) {
		/* Its goalStateSeq goes on, as the extensions' does. */
		if (json_object_set_new(m, "assignments", json_array()) == -1 ||
		    json_object_set_new(m, "registered",
		    json_integer(rm->registered)) == -1)
			return NULL;
	}
	if (m != NULL || !make || rm == NULL)
		return m;
	if ((m = json_pack("{s:I, s:I, s:[]}", "registered",
	    (json_int_t)rm->registered, "goalStateSeq", (json_int_t)0,
	    "assignments")) == NULL ||
	    json_object_set_new(gc->machines, machine, m) == -1)
		return NULL;
	return m;
}

/* The assignment named name in the machine entry m, with its index. */
static json_t *
gc_find(json_t *m, const char *name, size_t *index)
{
	json_t		*list = json_object_get(m, "assignments"), *a;
	const char	*n;
	size_t		 i;

	json_array_foreach(list, i, a) {
		n = json_string_value(json_object_get(a, "name"));
		if (n != NULL && strcmp(n, name) == 0) {
			if (index != NULL)
				*index = i;
			return a;
		}
	}
	return NULL;
}

/* Writes guestconfig.json, without the assignments of machines that are
 * gone (their goalStateSeq stays); 0 or -1. */
static int
gc_save(struct guestconfig *gc, char *err, size_t errlen)
{
	const char	*name;
	json_t		*doc, *m;
	char		*text;
	int		 rc;

	json_object_foreach(gc->machines, name, m)
		if (registry_find(gc->registry, name) == NULL &&
		    json_array_size(json_object_get(m, "assignments")) > 0)
			json_object_set_new(m, "assignments", json_array());
	if ((doc = json_pack("{s:i, s:O}", "version", GC_VERSION, "machines",
	    gc->machines)) == NULL ||
	    (text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		json_decref(doc);
		snprintf(err, errlen, "%s: out of memory", gc->path);
		return -1;
	}
	json_decref(doc);
	rc = atomicfile_write(gc->path, text, strlen(text), GC_FILE_MODE, err,
	    errlen);
	free(text);
	return rc;
}

/* gc_save, or 500 answered; 0 or -1. */
static int
gc_save_req(struct guestconfig *gc, struct httpd_request *req)
{
	char	err[512];

	if (gc_save(gc, err, sizeof(err)) == 0)
		return 0;
	log_warnx("%s", err);
	httpd_error(req, 500, "InternalError", "cannot save the guest "
	    "configuration state: %s", err);
	return -1;
}

struct guestconfig *
guestconfig_load(const char *state_dir, struct registry *registry, char *err,
    size_t errlen)
{
	struct guestconfig	*gc;
	json_error_t		 jerr;
	json_t			*doc = NULL, *machines;
	char			*text = NULL, path[PATH_MAX], why[256];
	size_t			 len;

	if ((gc = calloc(1, sizeof(*gc))) == NULL) {
		snprintf(err, errlen, "guestconfig: out of memory");
		return NULL;
	}
	gc->registry = registry;
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, GUESTCONFIG_FILE) >=
	    (int)sizeof(path) || (gc->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: path too long", state_dir);
		goto fail;
	}
	if ((text = atomicfile_read(path, GC_FILE_MAX, &len, why,
	    sizeof(why))) == NULL) {
		if (access(path, F_OK) == 0) {
			snprintf(err, errlen, "%s", why);
			goto fail;
		}
		if ((gc->machines = json_object()) == NULL) {
			snprintf(err, errlen, "guestconfig: out of memory");
			goto fail;
		}
		return gc;
	}
	if ((doc = json_loadb(text, len, 0, &jerr)) == NULL) {
		snprintf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
		goto fail;
	}
	if (json_integer_value(json_object_get(doc, "version")) != GC_VERSION ||
	    !json_is_object(machines = json_object_get(doc, "machines"))) {
		snprintf(err, errlen, "%s: expected {\"version\": %d, "
		    "\"machines\": {...}}", path, GC_VERSION);
		goto fail;
	}
	gc->machines = json_incref(machines);
	json_decref(doc);
	free(text);
	return gc;
 fail:
	json_decref(doc);
	free(text);
	guestconfig_free(gc);
	return NULL;
}

void
guestconfig_free(struct guestconfig *gc)
{
	if (gc == NULL)
		return;
	json_decref(gc->machines);
	free(gc->path);
	free(gc);
}

/* The request's body as a JSON object; NULL with 400 answered. */
static json_t *
gc_body(struct httpd_request *req)
{
	json_error_t	 jerr;
	json_t		*doc;

	if ((doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		httpd_error(req, 400, "InvalidJson", "the body is not JSON: %s "
		    "(line %d, column %d)", jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		httpd_error(req, 400, "InvalidJson", "expected a JSON object as "
		    "the body");
		return NULL;
	}
	return doc;
}

/* A string member: present, at most max bytes, no NUL or control byte. */
static const char *
gc_string(json_t *o, const char *key, size_t max)
{
	json_t		*v = json_object_get(o, key);
	const char	*s;
	size_t		 i;

	if (!json_is_string(v) || json_string_length(v) > max)
		return NULL;
	s = json_string_value(v);
	for (i = 0; i < json_string_length(v); i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return NULL;
	return s;
}

static int
gc_hex64(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return i == 64;
}

/*
 * The stored assignment for a PUT body: the contract's fields only, each
 * checked.  NULL with 400 answered.
 */
static json_t *
gc_assignment(struct httpd_request *req, json_t *body, const char *name)
{
	json_t		*a, *params, *p, *out = NULL;
	const char	*uri, *hash, *type, *version = NULL, *pn, *pv;
	char		 lower[65];
	size_t		 i;

	uri = gc_string(body, "contentUri", GC_URI_MAX);
	if (uri == NULL || strncmp(uri, "https://", 8) != 0 || uri[8] == '\0' ||
	    strchr(uri, ' ') != NULL) {
		httpd_error(req, 400, "InvalidContentUri", "contentUri: expected "
		    "an https:// URL of the package, at most %d bytes", GC_URI_MAX);
		return NULL;
	}
	hash = gc_string(body, "contentHash", 64);
	if (hash == NULL || !gc_hex64(hash)) {
		httpd_error(req, 400, "InvalidContentHash", "contentHash: expected "
		    "the package's SHA-256, 64 hex digits");
		return NULL;
	}
	for (i = 0; i < 64; i++)
		lower[i] = (char)tolower((unsigned char)hash[i]);
	lower[64] = '\0';
	type = json_string_value(json_object_get(body, "assignmentType"));
	if (!gc_one_of(type, gc_types)) {
		httpd_error(req, 400, "InvalidAssignmentType", "assignmentType: "
		    "expected Audit, ApplyAndMonitor or ApplyAndAutoCorrect");
		return NULL;
	}
	if (json_object_get(body, "version") != NULL &&
	    !json_is_null(json_object_get(body, "version")) &&
	    ((version = gc_string(body, "version", GC_VERSION_MAX)) == NULL)) {
		httpd_error(req, 400, "InvalidVersion", "version: expected a "
		    "string of at most %d bytes", GC_VERSION_MAX);
		return NULL;
	}
	params = json_object_get(body, "configurationParameter");
	if (params != NULL && !json_is_null(params) &&
	    (!json_is_array(params) || json_array_size(params) > GC_PARAMS_MAX)) {
		httpd_error(req, 400, "InvalidParameter", "configurationParameter: "
		    "expected a list of at most %d {\"name\", \"value\"}",
		    GC_PARAMS_MAX);
		return NULL;
	}
	if ((out = json_array()) == NULL)
		goto oom;
	json_array_foreach(params, i, p) {
		pn = gc_string(p, "name", GC_PARAM_NAME_MAX);
		pv = json_is_string(json_object_get(p, "value")) &&
		    json_string_length(json_object_get(p, "value")) <=
		    GC_PARAM_VALUE_MAX ? json_string_value(json_object_get(p,
		    "value")) : NULL;
		if (!json_is_object(p) || pn == NULL || pn[0] == '\0' ||
		    pv == NULL || strlen(pv) != json_string_length(json_object_get(p,
		    "value"))) {
			json_decref(out);
			httpd_error(req, 400, "InvalidParameter",
			    "configurationParameter[%zu]: expected {\"name\": "
			    "\"[type]id;property\", \"value\": \"...\"} (name 1-%d, "
			    "value at most %d bytes)", i, GC_PARAM_NAME_MAX,
			    GC_PARAM_VALUE_MAX);
			return NULL;
		}
		if (json_array_append_new(out, json_pack("{s:s, s:s}", "name", pn,
		    "value", pv)) == -1)
			goto oom;
	}
	if ((a = json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", name,
	    "contentUri", uri, "contentHash", lower, "assignmentType", type,
	    "configurationParameter", out)) == NULL)
		goto oom_a;
	if (version != NULL && json_object_set_new(a, "version",
	    json_string(version)) == -1) {
		json_decref(a);
		goto oom_a;
	}
	return a;
 oom:
	json_decref(out);
 oom_a:
	httpd_error(req, 500, "InternalError", "out of memory");
	return NULL;
}

/* What the machine is told: the assignment without reports. */
static json_t *
gc_machine_view(json_t *a)
{
	json_t	*v;

	if ((v = json_deep_copy(a)) == NULL)
		return NULL;
	json_object_del(v, "latestReport");
	json_object_del(v, "history");
	json_object_del(v, "reportTime");
	return v;
}

/* What the operator sees: the assignment, its latest report and history. */
static json_t *
gc_operator_view(json_t *a)
{
	json_t	*v, *history;

	if ((v = json_deep_copy(a)) == NULL)
		return NULL;
	history = json_object_get(v, "history");
	if (json_object_set_new(v, "latestReport", json_array_size(history) > 0 ?
	    json_incref(json_array_get(history, json_array_size(history) - 1)) :
	    json_null()) == -1 ||
	    (history == NULL && json_object_set_new(v, "history",
	    json_array()) == -1)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* The registered machine named in the path, with the names; NULL with 404
 * (or 400 for a bad path) answered. */
static json_t *
gc_operator_machine(struct guestconfig *gc, struct httpd_request *req,
    char *machine, size_t mlen, char *name, size_t nlen, int make)
{
	json_t	*m;

	if (gc_path_names(req->path, machine, mlen, name, nlen) == -1) {
		httpd_error(req, 400, "InvalidPath", "expected /operator/machines/"
		    "NAME/" GC_SEGMENT "[/ASSIGNMENT]");
		return NULL;
	}
	if (registry_find(gc->registry, machine) == NULL) {
		httpd_error(req, 404, "NotFound", "no machine named %.64s", machine);
		return NULL;
	}
	if ((m = gc_machine(gc, machine, make)) == NULL && make)
		httpd_error(req, 500, "InternalError", "out of memory");
	return m;
}

/* The goal state changes: a new sequence number. */
static long long
gc_bump(json_t *m)
{
	long long	seq;

	seq = json_integer_value(json_object_get(m, "goalStateSeq")) + 1;
	json_object_set_new(m, "goalStateSeq", json_integer(seq));
	return seq;
}

void
guestconfig_operator_put(struct cloudsim *cs, struct httpd_request *req)
{
	struct guestconfig	*gc = cs->guestconfig;
	json_t			*m, *body = NULL, *a = NULL, *old, *list, *view;
	char			 machine[REGISTRY_NAME_MAX], name[REGISTRY_NAME_MAX];
	size_t			 index;
	long long		 seq;
	int			 created;

	if ((m = gc_operator_machine(gc, req, machine, sizeof(machine), name,
	    sizeof(name), 1)) == NULL)
		return;
	if (!registry_name_ok(name)) {
		httpd_error(req, 400, "InvalidAssignmentName", "the assignment's "
		    "name: expected 1-63 of [A-Za-z0-9-_.], starting with a letter "
		    "or digit");
		return;
	}
	if ((body = gc_body(req)) == NULL ||
	    (a = gc_assignment(req, body, name)) == NULL)
		goto done;
	list = json_object_get(m, "assignments");
	if ((old = gc_find(m, name, &index)) != NULL) {
		/* The reports stay with the assignment's name, as in Azure. */
		if (json_object_get(old, "history") != NULL)
			json_object_set(a, "history", json_object_get(old,
			    "history"));
		json_array_set(list, index, a);
		created = 0;
	} else {
		if (json_array_size(list) >= GUESTCONFIG_MAX_ASSIGNMENTS) {
			httpd_error(req, 409, "TooManyAssignments", "machine %s has "
			    "%d guest configuration assignments, the most it may "
			    "have", machine, GUESTCONFIG_MAX_ASSIGNMENTS);
			goto done;
		}
		json_array_append(list, a);
		created = 1;
	}
	seq = gc_bump(m);
	if (gc_save_req(gc, req) == -1)
		goto done;
	goalstate_changed(cs, machine, GOALSTATE_GUEST_CONFIGURATION,
	    (unsigned long long)seq);
	if ((view = gc_operator_view(a)) == NULL) {
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	httpd_reply(req, created ? 201 : 200, view);
	snprintf(req->note, sizeof(req->note), "guest configuration %s of %s "
	    "%s (%s)", name, machine, created ? "assigned" : "changed",
	    json_string_value(json_object_get(a, "assignmentType")));
 done:
	json_decref(a);
	json_decref(body);
}

void
guestconfig_operator_delete(struct cloudsim *cs, struct httpd_request *req)
{
	struct guestconfig	*gc = cs->guestconfig;
	json_t			*m;
	char			 machine[REGISTRY_NAME_MAX], name[REGISTRY_NAME_MAX];
	size_t			 index;
	long long		 seq;

	if ((m = gc_operator_machine(gc, req, machine, sizeof(machine), name,
	    sizeof(name), 0)) == NULL) {
		if (req->status == 0)
			httpd_error(req, 404, "NotFound", "machine %s has no "
			    "guest configuration assignment %.64s", machine, name);
		return;
	}
	if (gc_find(m, name, &index) == NULL) {
		httpd_error(req, 404, "NotFound", "machine %s has no guest "
		    "configuration assignment %.64s", machine, name);
		return;
	}
	json_array_remove(json_object_get(m, "assignments"), index);
	seq = gc_bump(m);
	if (gc_save_req(gc, req) == -1)
		return;
	goalstate_changed(cs, machine, GOALSTATE_GUEST_CONFIGURATION,
	    (unsigned long long)seq);
	httpd_reply(req, 200, json_pack("{s:s}", "name", name));
	snprintf(req->note, sizeof(req->note), "guest configuration %s of %s "
	    "removed", name, machine);
}

void
guestconfig_operator_get(struct cloudsim *cs, struct httpd_request *req)
{
	struct guestconfig	*gc = cs->guestconfig;
	json_t			*m, *a, *view;
	char			 machine[REGISTRY_NAME_MAX], name[REGISTRY_NAME_MAX];

	if ((m = gc_operator_machine(gc, req, machine, sizeof(machine), name,
	    sizeof(name), 0)) == NULL && req->status != 0)
		return;
	if (m == NULL || (a = gc_find(m, name, NULL)) == NULL) {
		httpd_error(req, 404, "NotFound", "machine %s has no guest "
		    "configuration assignment %.64s", machine, name);
		return;
	}
	if ((view = gc_operator_view(a)) == NULL)
		httpd_error(req, 500, "InternalError", "out of memory");
	else
		httpd_reply(req, 200, view);
}

void
guestconfig_operator_list(struct cloudsim *cs, struct httpd_request *req)
{
	struct guestconfig	*gc = cs->guestconfig;
	json_t			*m, *a, *out;
	char			 machine[REGISTRY_NAME_MAX], name[REGISTRY_NAME_MAX];
	size_t			 i;

	if ((m = gc_operator_machine(gc, req, machine, sizeof(machine), name,
	    sizeof(name), 0)) == NULL && req->status != 0)
		return;
	if ((out = json_array()) == NULL)
		goto oom;
	json_array_foreach(json_object_get(m, "assignments"), i, a)
		if (json_array_append_new(out, gc_operator_view(a)) == -1)
			goto oom;
	httpd_reply(req, 200, out);
	return;
 oom:
	json_decref(out);
	httpd_error(req, 500, "InternalError", "out of memory");
}

void
guestconfig_machine_get(struct cloudsim *cs, struct httpd_request *req,
    const char *machine)
{
	json_t	*m, *a, *list;
	size_t	 i;

	m = gc_machine(cs->guestconfig, machine, 0);
	if ((list = json_array()) == NULL)
		goto oom;
	json_array_foreach(json_object_get(m, "assignments"), i, a)
		if (json_array_append_new(list, gc_machine_view(a)) == -1)
			goto oom;
	httpd_reply(req, 200, json_pack("{s:I, s:o}", "goalStateSeq",
	    json_integer_value(json_object_get(m, "goalStateSeq")),
	    "assignments", list));
	snprintf(req->note, sizeof(req->note), "%zu guest configuration "
	    "assignment%s for %s", json_array_size(list),
	    json_array_size(list) == 1 ? "" : "s", machine);
	return;
 oom:
	json_decref(list);
	httpd_error(req, 500, "InternalError", "out of memory");
}

/* A report in the shape of ARC-FACTS; 0, or -1 with 400 answered. */
static int
gc_report_ok(struct httpd_request *req, json_t *r, const char *name)
{
	json_t		*details, *resources, *res;
	const char	*an;
	size_t		 i;

	if (!gc_one_of(json_string_value(json_object_get(r,
	    "complianceStatus")), gc_statuses)) {
		httpd_error(req, 400, "InvalidReport", "complianceStatus: expected "
		    "Compliant, NonCompliant or Pending");
		return -1;
	}
	an = json_string_value(json_object_get(json_object_get(r, "assignment"),
	    "name"));
	if (an != NULL && strcmp(an, name) != 0) {
		httpd_error(req, 400, "InvalidReport", "assignment.name is %.64s, "
		    "the path says %s", an, name);
		return -1;
	}
	details = json_object_get(r, "details");
	if (details != NULL && !json_is_object(details)) {
		httpd_error(req, 400, "InvalidReport", "details: expected an "
		    "object");
		return -1;
	}
	resources = json_object_get(details, "resources");
	if (resources != NULL && !json_is_array(resources)) {
		httpd_error(req, 400, "InvalidReport", "details.resources: "
		    "expected a list");
		return -1;
	}
	json_array_foreach(resources, i, res)
		if (!json_is_object(res) || !gc_one_of(json_string_value(
		    json_object_get(res, "complianceStatus")), gc_statuses)) {
			httpd_error(req, 400, "InvalidReport", "details.resources"
			    "[%zu]: expected {\"complianceStatus\", \"reasons\", "
			    "\"properties\"}", i);
			return -1;
		}
	return 0;
}

void
guestconfig_machine_report(struct cloudsim *cs, struct httpd_request *req,
    const char *machine)
{
	struct guestconfig	*gc = cs->guestconfig;
	json_t			*m, *a, *body, *history;
	char			 pm[REGISTRY_NAME_MAX], name[REGISTRY_NAME_MAX];
	char			 now[REGISTRY_TIME_MAX];

	if (gc_path_names(req->path, pm, sizeof(pm), name,
	    sizeof(name)) == -1 || name[0] == '\0') {
		httpd_error(req, 400, "InvalidPath", "expected /machines/NAME/"
		    GC_SEGMENT "/ASSIGNMENT/reports");
		return;
	}
	if ((m = gc_machine(gc, machine, 0)) == NULL ||
	    (a = gc_find(m, name, NULL)) == NULL) {
		httpd_error(req, 404, "NotFound", "machine %s has no guest "
		    "configuration assignment %.64s", machine, name);
		return;
	}
	if ((body = gc_body(req)) == NULL)
		return;
	if (gc_report_ok(req, body, name) == -1)
		goto done;
	registry_time_text(time(NULL), now, sizeof(now));
	json_object_set_new(body, "receivedTime", json_string(now));
	if ((history = json_object_get(a, "history")) == NULL) {
		history = json_array();
		json_object_set_new(a, "history", history);
	}
	if (history == NULL || json_array_append(history, body) == -1) {
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	while (json_array_size(history) > GUESTCONFIG_HISTORY)
		json_array_remove(history, 0);
	if (gc_save_req(gc, req) == -1)
		goto done;
	httpd_reply(req, 200, json_pack("{s:s, s:s}", "name", name,
	    "receivedTime", now));
	snprintf(req->note, sizeof(req->note), "guest configuration report of "
	    "%s for %s: %s", machine, name, json_string_value(json_object_get(
	    body, "complianceStatus")));
 done:
	json_decref(body);
}
