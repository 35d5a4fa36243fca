/* extstore.c -- the extensions the operator wants on each machine, their reported status, the machines' settings certificates and goal-state numbers, kept in extensions.json. */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "atomicfile.h"
#include "extstore.h"

#define EXTSTORE_FILE_MAX	(64 << 20)
#define EXTSTORE_FILE_MODE	0600

struct extstore {
	char	*path;
	json_t	*doc;		/* {"version": 1, "machines": {...}} */
};

/* Is the loaded document the shape extstore writes?  0, or -1 with why. */
static int
extstore_check(json_t *doc, char *why, size_t whylen)
{
	const char	*name, *ext;
	json_t		*machines, *m, *exts, *e;

	machines = json_object_get(doc, "machines");
	if (!json_is_object(doc) || !json_is_object(machines)) {
		snprintf(why, whylen, "expected {\"version\": 1, \"machines\": {...}}");
		return -1;
	}
	json_object_foreach(machines, name, m) {
		exts = json_object_get(m, "extensions");
		if (!json_is_object(m) ||
		    !json_is_integer(json_object_get(m, "goalStateSeq")) ||
		    json_integer_value(json_object_get(m, "goalStateSeq")) < 0 ||
		    !json_is_object(exts)) {
			snprintf(why, whylen, "machines.%.64s: expected "
			    "{\"goalStateSeq\": N, \"extensions\": {...}}", name);
			return -1;
		}
		json_object_foreach(exts, ext, e) {
			if (!json_is_object(e) ||
			    !json_is_string(json_object_get(e, "publisher")) ||
			    !json_is_string(json_object_get(e, "type")) ||
			    !json_is_string(json_object_get(e, "version")) ||
			    !json_is_string(json_object_get(e, "desiredState")) ||
			    !json_is_integer(json_object_get(e, "sequenceNumber")) ||
			    !json_is_object(json_object_get(e, "package"))) {
				snprintf(why, whylen, "machines.%.64s.extensions."
				    "%.64s: expected publisher, type, version, "
				    "desiredState, sequenceNumber and package", name,
				    ext);
				return -1;
			}
		}
	}
	return 0;
}

struct extstore *
extstore_load(const char *path, char *err, size_t errlen)
{
	struct extstore	*st;
	struct stat	 sb;
	json_error_t	 jerr;
	char		*text = NULL, why[256];

	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (stat(path, &sb) == -1 && errno == ENOENT) {
		if ((st->doc = json_pack("{s:i, s:{}}", "version", 1,
		    "machines")) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		return st;
	}
	if ((text = atomicfile_read(path, EXTSTORE_FILE_MAX, NULL, err,
	    errlen)) == NULL)
		goto fail;
	if ((st->doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
		goto fail;
	}
	if (extstore_check(st->doc, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto fail;
	}
	free(text);
	return st;
 fail:
	free(text);
	extstore_free(st);
	return NULL;
}

int
extstore_save(struct extstore *st, char *err, size_t errlen)
{
	char	*text;
	int	 rc;

	if ((text = json_dumps(st->doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		snprintf(err, errlen, "%s: cannot encode the state", st->path);
		return -1;
	}
	rc = atomicfile_write(st->path, text, strlen(text), EXTSTORE_FILE_MODE,
	    err, errlen);
	free(text);
	return rc;
}

void
extstore_free(struct extstore *st)
{
	if (st == NULL)
		return;
	json_decref(st->doc);
	free(st->path);
	free(st);
}

json_t *
extstore_machine(struct extstore *st, const char *machine, int create)
{
	json_t	*machines = json_object_get(st->doc, "machines"), *m;

	if ((m = json_object_get(machines, machine)) != NULL || !create)
		return m;
	if ((m = json_pack("{s:i, s:n, s:n, s:{}}", "goalStateSeq", 0,
	    "settingsCertificate", "settingsThumbprint", "extensions")) == NULL ||
	    json_object_set_new(machines, machine, m) == -1)
		return NULL;
	return m;
}

json_t *
extstore_extensions(json_t *machine)
{
	return json_object_get(machine, "extensions");
}

unsigned long long
extstore_seq(json_t *machine)
{
	return (unsigned long long)json_integer_value(json_object_get(machine,
	    "goalStateSeq"));
}

unsigned long long
extstore_bump(json_t *machine)
{
	unsigned long long	seq = extstore_seq(machine) + 1;

	json_object_set_new(machine, "goalStateSeq", json_integer((json_int_t)seq));
	return seq;
}

json_t *
extstore_snapshot(json_t *machine)
{
	return machine != NULL ? json_deep_copy(machine) : NULL;
}

void
extstore_restore(struct extstore *st, const char *machine, json_t *snapshot)
{
	json_t	*machines = json_object_get(st->doc, "machines");

	if (snapshot != NULL)
		json_object_set(machines, machine, snapshot);
	else
		json_object_del(machines, machine);
}

void
extstore_forget(struct extstore *st, const char *machine)
{
	json_t	*m;

	if ((m = extstore_machine(st, machine, 0)) == NULL)
		return;
	json_object_clear(extstore_extensions(m));
	json_object_set_new(m, "settingsCertificate", json_null());
	json_object_set_new(m, "settingsThumbprint", json_null());
	extstore_bump(m);
}
