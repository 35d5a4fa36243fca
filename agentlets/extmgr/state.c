/* state.c -- extmgr's record of what is installed (<state>/extmgr/state.json): versions, sequence numbers, handler states, the step under way, the last report; written whole and atomically. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "state.h"

static json_t *
state_empty(void)
{
	return json_pack("{s:o}", "extensions", json_object());
}

int
state_load(struct extmgr_state *st, int dirfd, char *err, size_t errlen)
{
	json_error_t	 jerr;
	char		*text, why[256];
	size_t		 len;

	st->dirfd = dirfd;
	st->doc = NULL;
	if ((text = atomicfile_readat(dirfd, STATE_FILE, STATE_MAX_BYTES, &len,
	    why, sizeof(why))) == NULL) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", STATE_FILE, why);
			return -1;
		}
	} else {
		st->doc = json_loadb(text, len, 0, &jerr);
		free(text);
		if (st->doc == NULL ||
		    !json_is_object(json_object_get(st->doc, "extensions"))) {
			json_decref(st->doc);
			st->doc = NULL;
			/* Kept for the operator; extmgr starts over. */
			renameat(dirfd, STATE_FILE, dirfd, STATE_FILE ".bad");
			snprintf(err, errlen, "%s was not extmgr's state: kept as "
			    "%s.bad, starting from nothing", STATE_FILE,
			    STATE_FILE);
		}
	}
	if (st->doc == NULL && (st->doc = state_empty()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
state_save(struct extmgr_state *st, char *err, size_t errlen)
{
	char	*text;
	int	 rc;

	if ((text = json_dumps(st->doc, JSON_INDENT(1) | JSON_SORT_KEYS)) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = atomicfile_writeat(st->dirfd, STATE_FILE, text, strlen(text),
	    0600, ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err, errlen);
	free(text);
	return rc;
}

void
state_clear(struct extmgr_state *st)
{
	json_decref(st->doc);
	st->doc = NULL;
}

json_t *
state_exts(struct extmgr_state *st)
{
	return json_object_get(st->doc, "extensions");
}

json_t *
state_ext(struct extmgr_state *st, const char *name)
{
	return json_object_get(state_exts(st), name);
}

json_t *
state_ext_make(struct extmgr_state *st, const char *name,
    const char *publisher, const char *type)
{
	json_t	*rec;

	if ((rec = state_ext(st, name)) != NULL)
		return rec;
	rec = json_pack("{s:s,s:s,s:n,s:s,s:I,s:s}", "publisher", publisher,
	    "type", type, "version", "handlerState", "NotInstalled", "seq",
	    (json_int_t)-1, "step", "");
	if (rec == NULL || json_object_set_new(state_exts(st), name, rec) == -1)
		return NULL;
	return rec;
}

void
state_ext_remove(struct extmgr_state *st, const char *name)
{
	json_object_del(state_exts(st), name);
}

const char *
state_str(json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

long long
state_int(json_t *rec, const char *key, long long def)
{
	json_t	*v = json_object_get(rec, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

void
state_set_str(json_t *rec, const char *key, const char *value)
{
	json_object_set_new(rec, key, value ? json_string(value) : json_null());
}

void
state_set_int(json_t *rec, const char *key, long long value)
{
	json_object_set_new(rec, key, json_integer(value));
}
