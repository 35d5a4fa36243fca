/* goal.c -- the cloud's goal state for the machine's extensions (GET /machines/M/extensions), parsed and checked. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goal.h"

int
goal_name_ok(const char *s, const char *extra, size_t max)
{
	size_t	i;

	if (s == NULL || s[0] == '\0' || strlen(s) > max || s[0] == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

/* One field of a version each: the numbers first, then any tag after. */
static int
goal_field_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	ad, bd, n;
	int	c;

	for (; alen > 0 && *a == '0'; a++, alen--)
		;
	for (; blen > 0 && *b == '0'; b++, blen--)
		;
	for (ad = 0; ad < alen && isdigit((unsigned char)a[ad]); ad++)
		;
	for (bd = 0; bd < blen && isdigit((unsigned char)b[bd]); bd++)
		;
	if (ad != bd)		/* without leading zeros, longer is larger */
		return ad < bd ? -1 : 1;
	if ((c = memcmp(a, b, ad)) != 0)
		return c < 0 ? -1 : 1;
	a += ad, alen -= ad;
	b += bd, blen -= bd;
	if (alen == 0 || blen == 0)	/* no tag: a release, above its tags */
		return alen == blen ? 0 : alen == 0 ? 1 : -1;
	n = alen < blen ? alen : blen;
	if ((c = memcmp(a, b, n)) != 0)
		return c < 0 ? -1 : 1;
	return alen == blen ? 0 : alen < blen ? -1 : 1;
}

int
goal_version_cmp(const char *a, const char *b)
{
	size_t	al, bl;
	int	c;

	while (*a != '\0' || *b != '\0') {
		al = strcspn(a, ".");
		bl = strcspn(b, ".");
		if ((c = goal_field_cmp(a, al, b, bl)) != 0)
			return c;
		a += al;
		b += bl;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
	}
	return 0;
}

static int
goal_string(json_t *o, const char *key, int required, char **out,
    const char *extra, size_t max, char *err, size_t errlen)
{
	json_t		*v = json_object_get(o, key);
	const char	*s;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(err, errlen, "\"%s\" is missing", key);
		return -1;
	}
	if ((s = json_string_value(v)) == NULL) {
		snprintf(err, errlen, "\"%s\" is not a string", key);
		return -1;
	}
	if (extra != NULL && !goal_name_ok(s, extra, max)) {
		snprintf(err, errlen, "\"%s\" is not a valid name", key);
		return -1;
	}
	if (strlen(s) > max) {
		snprintf(err, errlen, "\"%s\" is too long", key);
		return -1;
	}
	if ((*out = strdup(s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
goal_hex64(const char *s)
{
	int	i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[64] == '\0';
}

static int
goal_ext_parse(json_t *o, struct goal_ext *e, char *err, size_t errlen)
{
	json_t		*pkg, *v;
	char		*state = NULL, *t;
	const char	*s;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "not an object");
		return -1;
	}
	if (goal_string(o, "name", 1, &e->name, "._-", 64, err, errlen) == -1 ||
	    goal_string(o, "publisher", 1, &e->publisher, ".", 128, err,
	    errlen) == -1 ||
	    goal_string(o, "type", 1, &e->type, "._-", 128, err, errlen) == -1 ||
	    goal_string(o, "version", 1, &e->version, ".", 64, err,
	    errlen) == -1 ||
	    goal_string(o, "desiredState", 1, &state, NULL, 16, err,
	    errlen) == -1)
		goto fail;
	if (strcmp(state, "present") == 0)
		e->present = 1;
	else if (strcmp(state, "absent") != 0) {
		snprintf(err, errlen, "desiredState \"%s\" is not present or "
		    "absent", state);
		goto fail;
	}
	v = json_object_get(o, "sequenceNumber");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "sequenceNumber is not an integer >= 0");
		goto fail;
	}
	e->seq = json_integer_value(v);
	v = json_object_get(o, "publicSettings");
	if (v != NULL && !json_is_null(v) && !json_is_object(v)) {
		snprintf(err, errlen, "publicSettings is not an object");
		goto fail;
	}
	e->public_settings = json_is_object(v) ? json_incref(v) : json_object();
	if (goal_string(o, "protectedSettings", 0, &e->protected_settings,
	    NULL, 1 << 20, err, errlen) == -1 ||
	    goal_string(o, "protectedSettingsCertThumbprint", 0, &e->thumbprint,
	    "", 40, err, errlen) == -1)
		goto fail;
	/*
	 * The cloud may send a thumbprint in either case; it is held in
	 * upper case, as the VM agent writes it in the settings and in the
	 * <THUMB>.crt/.prv names that handlers open.
	 */
	for (t = e->thumbprint; t != NULL && *t != '\0'; t++)
		*t = toupper((unsigned char)*t);
	if (e->protected_settings != NULL && e->thumbprint == NULL) {
		snprintf(err, errlen, "protectedSettings without "
		    "protectedSettingsCertThumbprint");
		goto fail;
	}
	pkg = json_object_get(o, "package");
	if (!e->present && pkg == NULL) {
		free(state);
		return 0;
	}
	if (!json_is_object(pkg)) {
		snprintf(err, errlen, "package is not an object");
		goto fail;
	}
	if (goal_string(pkg, "url", 1, &e->url, NULL, 2048, err,
	    errlen) == -1 ||
	    goal_string(pkg, "signatureUrl", 1, &e->signature_url, NULL, 2048,
	    err, errlen) == -1 ||
	    goal_string(pkg, "sha256", 1, &e->sha256, NULL, 64, err,
	    errlen) == -1)
		goto fail;
	if (strncmp(e->url, "https://", 8) != 0 ||
	    strncmp(e->signature_url, "https://", 8) != 0) {
		snprintf(err, errlen, "package URLs must be https://");
		goto fail;
	}
	if (!goal_hex64(e->sha256)) {
		snprintf(err, errlen, "package.sha256 is not 64 hex digits");
		goto fail;
	}
	v = json_object_get(pkg, "size");
	/* 0 would lift the download's cap: a package has bytes, and at
	 * most 2 GiB of them. */
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > GOAL_PACKAGE_MAX) {
		snprintf(err, errlen, "package.size is not an integer from 1 "
		    "to %lld", (long long)GOAL_PACKAGE_MAX);
		goto fail;
	}
	e->size = (uint64_t)json_integer_value(v);
	/* A thumbprint is 40 hex digits (held in upper case, above). */
	if ((s = e->thumbprint) != NULL && (strlen(s) != 40 ||
	    strspn(s, "0123456789ABCDEFabcdef") != 40)) {
		snprintf(err, errlen, "protectedSettingsCertThumbprint is not "
		    "40 hex digits");
		goto fail;
	}
	free(state);
	return 0;
 fail:
	free(state);
	return -1;
}

static void
goal_ext_clear(struct goal_ext *e)
{
	free(e->name);
	free(e->publisher);
	free(e->type);
	free(e->version);
	json_decref(e->public_settings);
	free(e->protected_settings);
	free(e->thumbprint);
	free(e->url);
	free(e->signature_url);
	free(e->sha256);
	memset(e, 0, sizeof(*e));
}

int
goal_parse(const char *text, size_t len, struct goal *g, char *err,
    size_t errlen)
{
	json_t		*doc, *list, *v;
	json_error_t	 jerr;
	char		 why[256];
	size_t		 i, j;

	memset(g, 0, sizeof(*g));
	if ((doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(err, errlen, "not JSON: %s (line %d)", jerr.text,
		    jerr.line);
		return -1;
	}
	v = json_object_get(doc, "goalStateSeq");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "goalStateSeq is not an integer >= 0");
		goto fail;
	}
	g->seq = json_integer_value(v);
	list = json_object_get(doc, "extensions");
	if (!json_is_array(list)) {
		snprintf(err, errlen, "extensions is not a list");
		goto fail;
	}
	if (json_array_size(list) > GOAL_MAX_EXTENSIONS) {
		snprintf(err, errlen, "more than %d extensions",
		    GOAL_MAX_EXTENSIONS);
		goto fail;
	}
	if (json_array_size(list) > 0 && (g->ext = calloc(json_array_size(list),
	    sizeof(*g->ext))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < json_array_size(list); i++) {
		g->n++;
		if (goal_ext_parse(json_array_get(list, i), &g->ext[i], why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "extensions[%zu]: %s", i, why);
			goto fail;
		}
		for (j = 0; j < i; j++)
			if (strcmp(g->ext[j].name, g->ext[i].name) == 0) {
				snprintf(err, errlen, "extensions[%zu]: name "
				    "\"%s\" twice", i, g->ext[i].name);
				goto fail;
			}
	}
	json_decref(doc);
	return 0;
 fail:
	json_decref(doc);
	goal_clear(g);
	return -1;
}

void
goal_clear(struct goal *g)
{
	int	i;

	for (i = 0; i < g->n; i++)
		goal_ext_clear(&g->ext[i]);
	free(g->ext);
	memset(g, 0, sizeof(*g));
}

const struct goal_ext *
goal_find(const struct goal *g, const char *name)
{
	int	i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->ext[i].name, name) == 0)
			return &g->ext[i];
	return NULL;
}
