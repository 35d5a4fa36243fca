/* gclist.c -- the cloud's list of guest configuration assignments, read and checked into guestconfig's own records (no I/O: the fuzzer drives it). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gclist.h"

#define GC_LIST_MAX	(4 << 20)	/* a larger answer is not a list of 50 */

static const char *const gc_type_names[] = {
	"Audit", "ApplyAndMonitor", "ApplyAndAutoCorrect"
};

const char *
gc_type_name(enum gc_type t)
{
	return gc_type_names[t];
}

static int
gc_type_parse(const char *s, enum gc_type *t)
{
	int	i;

	for (i = 0; s != NULL && i < 3; i++)
		if (strcmp(s, gc_type_names[i]) == 0) {
			*t = (enum gc_type)i;
			return 0;
		}
	return -1;
}

int
gc_name_ok(const char *s)
{
	size_t	i;

	if (s == NULL || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (i >= GC_NAME_MAX - 1 || (!isalnum((unsigned char)s[i]) &&
		    strchr("-_.", s[i]) == NULL))
			return 0;
	return 1;
}

static int
gc_hash_ok(const char *s)
{
	size_t	i;

	for (i = 0; s != NULL && s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s != NULL && i == 64;
}

static const char *
gc_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

void
gc_assign_free(struct gc_assignment *a)
{
	if (a == NULL)
		return;
	free(a->content_uri);
	json_decref(a->params);
	free(a->version);
	free(a->config_name);
	free(a->config_version);
	json_decref(a->unsent);
	free(a);
}

/*
 * An assignment from the cloud's list (or the state file): the contract's
 * fields, checked.  NULL with why filled.
 */
struct gc_assignment *
gc_assign_parse(json_t *o, char *why, size_t whylen)
{
	struct gc_assignment	*a;
	json_t			*params;
	const char		*name, *uri, *hash, *version;
	size_t			 i;

	name = gc_str(o, "name");
	uri = gc_str(o, "contentUri");
	hash = gc_str(o, "contentHash");
	version = gc_str(o, "version");
	params = json_object_get(o, "configurationParameter");
	if (!gc_name_ok(name)) {
		snprintf(why, whylen, "an assignment without a valid name");
		return NULL;
	}
	if (uri == NULL || strncmp(uri, "https://", 8) != 0 || !gc_hash_ok(hash) ||
	    (params != NULL && !json_is_array(params) && !json_is_null(params))) {
		snprintf(why, whylen, "assignment %s: contentUri, contentHash or "
		    "configurationParameter is malformed", name);
		return NULL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto oom;
	snprintf(a->name, sizeof(a->name), "%s", name);
	if (gc_type_parse(gc_str(o, "assignmentType"), &a->type) == -1) {
		snprintf(why, whylen, "assignment %s: assignmentType \"%s\" is not "
		    "Audit, ApplyAndMonitor or ApplyAndAutoCorrect", name,
		    gc_str(o, "assignmentType") ? gc_str(o, "assignmentType") : "");
		gc_assign_free(a);
		return NULL;
	}
	for (i = 0; i < 64; i++)
		a->content_hash[i] = (char)tolower((unsigned char)hash[i]);
	snprintf(a->dir, sizeof(a->dir), "%s-%.16s", a->name, a->content_hash);
	if ((a->content_uri = strdup(uri)) == NULL ||
	    (version != NULL && (a->version = strdup(version)) == NULL) ||
	    (a->params = json_is_array(params) ? json_deep_copy(params) :
	    json_array()) == NULL) {
		gc_assign_free(a);
		goto oom;
	}
	return a;
 oom:
	snprintf(why, whylen, "out of memory");
	return NULL;
}

int
gc_same_params(const struct gc_assignment *a, const struct gc_assignment *b)
{
	return json_equal(a->params, b->params) && a->type == b->type &&
	    ((a->version == NULL && b->version == NULL) ||
	    (a->version != NULL && b->version != NULL &&
	    strcmp(a->version, b->version) == 0));
}

void
gc_list_clear(struct gc_assignments *list)
{
	struct gc_assignment	*a;

	while ((a = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, a, entry);
		gc_assign_free(a);
	}
}

int
gc_list_parse(const char *text, size_t len, struct gc_assignments *out,
    long long *seq, char *why, size_t whylen)
{
	struct gc_assignment	*a, *b;
	json_t			*doc, *list, *o;
	char			 skip[512];
	size_t			 i;
	int			 n = 0;

	why[0] = '\0';
	*seq = 0;
	doc = text != NULL && len <= GC_LIST_MAX ? json_loadb(text, len, 0,
	    NULL) : NULL;
	if (!json_is_array(list = json_object_get(doc, "assignments"))) {
		json_decref(doc);
		snprintf(why, whylen, "the list of assignments is not "
		    "{\"goalStateSeq\", \"assignments\": [...]}");
		return -1;
	}
	if (json_is_integer(json_object_get(doc, "goalStateSeq")))
		*seq = json_integer_value(json_object_get(doc, "goalStateSeq"));
	json_array_foreach(list, i, o) {
		if (n == GC_MAX_ASSIGNMENTS) {
			if (why[0] == '\0')
				snprintf(why, whylen, "more than %d assignments: "
				    "the rest are ignored", GC_MAX_ASSIGNMENTS);
			break;
		}
		if ((a = gc_assign_parse(o, skip, sizeof(skip))) == NULL) {
			if (why[0] == '\0')
				snprintf(why, whylen, "%s", skip);
			continue;
		}
		TAILQ_FOREACH(b, out, entry)
			if (strcmp(b->name, a->name) == 0)
				break;
		if (b != NULL) {
			if (why[0] == '\0')
				snprintf(why, whylen, "assignment %s twice: the "
				    "first one is kept", a->name);
			gc_assign_free(a);
			continue;
		}
		TAILQ_INSERT_TAIL(out, a, entry);
		n++;
	}
	json_decref(doc);
	return n;
}
