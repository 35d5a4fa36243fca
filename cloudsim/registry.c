/* registry.c -- the control plane's machines: their resources, certificate serials, revocations and heartbeats, kept in control.json. */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "atomicfile.h"
#include "registry.h"

#define REGISTRY_FILE_MAX	(64 << 20)	/* a larger control.json is not ours */
#define REGISTRY_FILE_MODE	0644
#define REGISTRY_VERSION	1

struct registry {
	char			*path;		/* <state-dir>/control.json */
	struct registry_machines machines;	/* in the order they registered */
	struct registry_cert	*revoked;	/* certificates of deleted machines, until they expire */
	int			 nrevoked;
};

int
registry_name_ok(const char *name)
{
	size_t	i, len = strlen(name);

	if (len == 0 || len >= REGISTRY_NAME_MAX ||
	    !isalnum((unsigned char)name[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' &&
		    name[i] != '_' && name[i] != '.')
			return 0;
	return 1;
}

void
registry_time_text(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}

/* The registry's own RFC 3339 form; 0 or -1. */
static int
registry_time_parse(const char *text, time_t *t)
{
	struct tm	 tm;
	const char	*end;

	memset(&tm, 0, sizeof(tm));
	if (text == NULL || (end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm)) ==
	    NULL || *end != '\0')
		return -1;
	*t = timegm(&tm);
	return 0;
}

static void
registry_machine_free(struct registry_machine *m)
{
	if (m == NULL)
		return;
	json_decref(m->resource);
	free(m->agent_version);
	free(m->certs);
	free(m);
}

void
registry_free(struct registry *reg)
{
	struct registry_machine	*m;

	if (reg == NULL)
		return;
	while ((m = TAILQ_FIRST(&reg->machines)) != NULL) {
		TAILQ_REMOVE(&reg->machines, m, entry);
		registry_machine_free(m);
	}
	free(reg->revoked);
	free(reg->path);
	free(reg);
}

struct registry_machine *
registry_first(struct registry *reg)
{
	return TAILQ_FIRST(&reg->machines);
}

struct registry_machine *
registry_find(struct registry *reg, const char *name)
{
	struct registry_machine	*m;

	TAILQ_FOREACH(m, &reg->machines, entry)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static struct registry_machine *
registry_machine_new(const char *name, json_t *resource, const char *agent_version)
{
	struct registry_machine	*m;

	if (strlen(name) >= sizeof(m->name) || (m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	snprintf(m->name, sizeof(m->name), "%s", name);
	if ((m->agent_version = strdup(agent_version)) == NULL) {
		free(m);
		return NULL;
	}
	m->resource = json_incref(resource);
	return m;
}

struct registry_machine *
registry_add(struct registry *reg, const char *name, json_t *resource,
    const char *agent_version, time_t now)
{
	struct registry_machine	*m;

	if ((m = registry_machine_new(name, resource, agent_version)) == NULL)
		return NULL;
	m->registered = now;
	TAILQ_INSERT_TAIL(&reg->machines, m, entry);
	return m;
}

static int
registry_cert_append(struct registry_cert **list, int *n, const char *serial,
    time_t not_after, const char *machine)
{
	struct registry_cert	*grown, *c;

	if (strlen(serial) >= sizeof(c->serial))
		return -1;
	if ((grown = reallocarray(*list, *n + 1, sizeof(**list))) == NULL)
		return -1;
	*list = grown;
	c = &grown[(*n)++];
	memset(c, 0, sizeof(*c));
	snprintf(c->serial, sizeof(c->serial), "%s", serial);
	snprintf(c->machine, sizeof(c->machine), "%s", machine);
	c->not_after = not_after;
	return 0;
}

int
registry_add_cert(struct registry_machine *m, const char *serial, time_t not_after)
{
	return registry_cert_append(&m->certs, &m->ncerts, serial, not_after,
	    m->name);
}

void
registry_drop_last_cert(struct registry_machine *m)
{
	if (m->ncerts > 0)
		m->ncerts--;
}

int
registry_remove(struct registry *reg, struct registry_machine *m)
{
	int	i, n = 0;

	for (i = 0; i < m->ncerts; i++)
		if (registry_cert_append(&reg->revoked, &reg->nrevoked,
		    m->certs[i].serial, m->certs[i].not_after, m->name) == 0)
			n++;
	registry_forget(reg, m);
	return n;
}

void
registry_forget(struct registry *reg, struct registry_machine *m)
{
	TAILQ_REMOVE(&reg->machines, m, entry);
	registry_machine_free(m);
}

int
registry_heartbeat(struct registry_machine *m, time_t now,
    const char *agent_version)
{
	char	*copy;

	if (agent_version != NULL && strcmp(agent_version, m->agent_version) != 0) {
		if ((copy = strdup(agent_version)) == NULL)
			return -1;
		free(m->agent_version);
		m->agent_version = copy;
	}
	m->last_heartbeat = now;
	return 0;
}

enum registry_cert_state
registry_cert_state(struct registry *reg, const char *cn, const char *serial,
    time_t now, struct registry_machine **mp, const char **owner)
{
	struct registry_machine	*m;
	int			 i;

	if (mp != NULL)
		*mp = NULL;
	if (owner != NULL)
		*owner = NULL;
	for (i = 0; i < reg->nrevoked; i++)
		if (strcmp(reg->revoked[i].serial, serial) == 0) {
			if (owner != NULL)
				*owner = reg->revoked[i].machine;
			return REGISTRY_CERT_REVOKED;
		}
	if ((m = registry_find(reg, cn)) == NULL)
		return REGISTRY_CERT_UNKNOWN;
	for (i = 0; i < m->ncerts; i++)
		if (strcmp(m->certs[i].serial, serial) == 0 &&
		    m->certs[i].not_after > now) {
			if (mp != NULL)
				*mp = m;
			return REGISTRY_CERT_MACHINE;
		}
	return REGISTRY_CERT_UNKNOWN;
}

int
registry_connected(const struct registry_machine *m, time_t now,
    long long heartbeat_interval)
{
	return m->last_heartbeat != 0 &&
	    (long long)(now - m->last_heartbeat) < 3 * heartbeat_interval;
}

static json_t *
registry_time_json(time_t t)
{
	char	text[REGISTRY_TIME_MAX];

	if (t == 0)
		return json_null();
	registry_time_text(t, text, sizeof(text));
	return json_string(text);
}

static time_t
registry_latest_not_after(const struct registry_machine *m)
{
	time_t	latest = 0;
	int	i;

	for (i = 0; i < m->ncerts; i++)
		if (m->certs[i].not_after > latest)
			latest = m->certs[i].not_after;
	return latest;
}

json_t *
registry_machine_view(const struct registry_machine *m, time_t now,
    long long heartbeat_interval)
{
	return json_pack("{s:s, s:O, s:O, s:s, s:o, s:s, s:o}",
	    "name", m->name,
	    "resourceId", json_object_get(m->resource, "resourceId"),
	    "vmId", json_object_get(m->resource, "vmId"),
	    "status", registry_connected(m, now, heartbeat_interval) ?
	    "Connected" : "Disconnected",
	    "lastHeartbeat", registry_time_json(m->last_heartbeat),
	    "agentVersion", m->agent_version,
	    "certificateNotAfter", registry_time_json(registry_latest_not_after(m)));
}

/* Drops the certificates past their notAfter: they no longer verify anyway. */
static void
registry_prune_list(struct registry_cert *list, int *n, time_t now)
{
	int	i, kept = 0;

	for (i = 0; i < *n; i++)
		if (list[i].not_after > now)
			list[kept++] = list[i];
	*n = kept;
}

/* [{"serial", "notAfter"[, "machine"]}] */
static json_t *
registry_certs_json(const struct registry_cert *list, int n, int with_machine)
{
	json_t	*arr, *o;
	int	 i;

	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		o = json_pack("{s:s, s:o}", "serial", list[i].serial, "notAfter",
		    registry_time_json(list[i].not_after));
		if (o == NULL || (with_machine && json_object_set_new(o, "machine",
		    json_string(list[i].machine)) == -1) ||
		    json_array_append_new(arr, o) == -1) {
			json_decref(o);
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *
registry_json(const struct registry *reg)
{
	struct registry_machine	*m;
	json_t			*doc, *machines, *o;

	if ((doc = json_object()) == NULL ||
	    json_object_set_new(doc, "version", json_integer(REGISTRY_VERSION)) == -1 ||
	    (machines = json_array()) == NULL ||
	    json_object_set_new(doc, "machines", machines) == -1 ||
	    json_object_set_new(doc, "revoked", registry_certs_json(reg->revoked,
	    reg->nrevoked, 1)) == -1)
		goto fail;
	TAILQ_FOREACH(m, &reg->machines, entry) {
		o = json_pack("{s:s, s:O, s:s, s:o, s:o, s:o}",
		    "name", m->name,
		    "resource", m->resource,
		    "agentVersion", m->agent_version,
		    "registeredAt", registry_time_json(m->registered),
		    "lastHeartbeat", registry_time_json(m->last_heartbeat),
		    "certificates", registry_certs_json(m->certs, m->ncerts, 0));
		if (o == NULL || json_array_append_new(machines, o) == -1)
			goto fail;
	}
	return doc;
 fail:
	json_decref(doc);
	return NULL;
}

int
registry_save(struct registry *reg, char *err, size_t errlen)
{
	struct registry_machine	*m;
	json_t			*doc;
	char			*text;
	time_t			 now = time(NULL);
	int			 rc;

	TAILQ_FOREACH(m, &reg->machines, entry)
		registry_prune_list(m->certs, &m->ncerts, now);
	registry_prune_list(reg->revoked, &reg->nrevoked, now);
	if ((doc = registry_json(reg)) == NULL ||
	    (text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(doc);
		snprintf(err, errlen, "%s: out of memory", reg->path);
		return -1;
	}
	json_decref(doc);
	rc = atomicfile_write(reg->path, text, strlen(text), REGISTRY_FILE_MODE,
	    err, errlen);
	free(text);
	return rc;
}

/* A loading error: "<path>: <where>: <what>". */
static int
registry_bad(const struct registry *reg, char *err, size_t errlen,
    const char *where, const char *what)
{
	snprintf(err, errlen, "%s: %s: %s", reg->path, where, what);
	return -1;
}

static int
registry_load_certs(struct registry *reg, json_t *arr, struct registry_cert **list,
    int *n, const char *owner, const char *where, char *err, size_t errlen)
{
	const char	*serial, *machine;
	json_t		*o;
	time_t		 not_after;
	size_t		 i;

	if (!json_is_array(arr))
		return registry_bad(reg, err, errlen, where, "expected an array");
	json_array_foreach(arr, i, o) {
		serial = json_string_value(json_object_get(o, "serial"));
		machine = owner != NULL ? owner :
		    json_string_value(json_object_get(o, "machine"));
		if (serial == NULL || machine == NULL ||
		    registry_time_parse(json_string_value(json_object_get(o,
		    "notAfter")), &not_after) == -1)
			return registry_bad(reg, err, errlen, where, "expected "
			    "{\"serial\", \"notAfter\"} in each entry");
		if (registry_cert_append(list, n, serial, not_after, machine) == -1)
			return registry_bad(reg, err, errlen, where,
			    "a serial number too long, or out of memory");
	}
	return 0;
}

static int
registry_load_machine(struct registry *reg, json_t *o, size_t index, char *err,
    size_t errlen)
{
	struct registry_machine	*m;
	const char		*name, *version, *hb;
	json_t			*resource;
	char			 where[64];

	snprintf(where, sizeof(where), "machines[%zu]", index);
	name = json_string_value(json_object_get(o, "name"));
	resource = json_object_get(o, "resource");
	version = json_string_value(json_object_get(o, "agentVersion"));
	if (name == NULL || !registry_name_ok(name) || !json_is_object(resource) ||
	    !json_is_string(json_object_get(resource, "resourceId")) ||
	    !json_is_string(json_object_get(resource, "vmId")) || version == NULL)
		return registry_bad(reg, err, errlen, where, "expected {\"name\", "
		    "\"resource\" {\"resourceId\", \"vmId\", ...}, \"agentVersion\", "
		    "...}");
	if (registry_find(reg, name) != NULL)
		return registry_bad(reg, err, errlen, where, "the name is listed twice");
	if ((m = registry_add(reg, name, resource, version, 0)) == NULL)
		return registry_bad(reg, err, errlen, where, "out of memory");
	if (registry_time_parse(json_string_value(json_object_get(o,
	    "registeredAt")), &m->registered) == -1)
		return registry_bad(reg, err, errlen, where, "registeredAt: expected "
		    "a time like \"2024-05-01T12:00:00Z\"");
	hb = json_string_value(json_object_get(o, "lastHeartbeat"));
	if ((hb != NULL && registry_time_parse(hb, &m->last_heartbeat) == -1) ||
	    (hb == NULL && !json_is_null(json_object_get(o, "lastHeartbeat"))))
		return registry_bad(reg, err, errlen, where, "lastHeartbeat: expected "
		    "null or a time like \"2024-05-01T12:00:00Z\"");
	return registry_load_certs(reg, json_object_get(o, "certificates"),
	    &m->certs, &m->ncerts, m->name, where, err, errlen);
}

struct registry *
registry_load(const char *path, char *err, size_t errlen)
{
	struct registry	*reg;
	struct stat	 st;
	json_error_t	 jerr;
	json_t		*doc = NULL, *o, *machines;
	char		*text = NULL, line[160];
	size_t		 i;

	if ((reg = calloc(1, sizeof(*reg))) == NULL ||
	    (reg->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	TAILQ_INIT(&reg->machines);
	if (stat(path, &st) == -1 && errno == ENOENT)
		return reg;
	if ((text = atomicfile_read(path, REGISTRY_FILE_MAX, NULL, err,
	    errlen)) == NULL)
		goto fail;
	if ((doc = json_loads(text, 0, &jerr)) == NULL) {
		snprintf(line, sizeof(line), "line %d", jerr.line);
		registry_bad(reg, err, errlen, line, jerr.text);
		goto fail;
	}
	machines = json_object_get(doc, "machines");
	if (!json_is_object(doc) || !json_is_array(machines)) {
		registry_bad(reg, err, errlen, "top level", "expected {\"machines\": "
		    "[...], \"revoked\": [...]}");
		goto fail;
	}
	json_array_foreach(machines, i, o)
		if (registry_load_machine(reg, o, i, err, errlen) == -1)
			goto fail;
	if (json_object_get(doc, "revoked") != NULL &&
	    registry_load_certs(reg, json_object_get(doc, "revoked"),
	    &reg->revoked, &reg->nrevoked, NULL, "revoked", err, errlen) == -1)
		goto fail;
	json_decref(doc);
	free(text);
	return reg;
 fail:
	json_decref(doc);
	free(text);
	registry_free(reg);
	return NULL;
}
