/* pkgstatement.c -- what a package's publisher signs: the package's identity (kind, publisher, type or name, version) and its file's SHA-256 and size, one canonical JSON text. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pkgstatement.h"

/* The kinds: how each is called, and the key of its name. */
static const struct {
	enum pkg_kind	 kind;
	const char	*label;		/* "kind" */
	const char	*name_key;	/* signingInfo's key of its name */
	const char	*name_what;	/* that name, in a message */
} pkgstatement_kinds[] = {
	{ PKG_EXTENSION, "extension", "type", "type" },
	{ PKG_GUESTCONFIG, "guestconfiguration", "name", "configuration" },
};
#define PKGSTATEMENT_NKINDS \
	(sizeof(pkgstatement_kinds) / sizeof(pkgstatement_kinds[0]))

static int
pkgstatement_kind_index(enum pkg_kind kind)
{
	size_t	i;

	for (i = 0; i < PKGSTATEMENT_NKINDS; i++)
		if (pkgstatement_kinds[i].kind == kind)
			return (int)i;
	return -1;
}

const char *
pkgstatement_kind(enum pkg_kind kind)
{
	int	i = pkgstatement_kind_index(kind);

	return i == -1 ? "unknown" : pkgstatement_kinds[i].label;
}

static int
pkgstatement_label_index(const char *label)
{
	size_t	i;

	for (i = 0; label != NULL && i < PKGSTATEMENT_NKINDS; i++)
		if (strcmp(label, pkgstatement_kinds[i].label) == 0)
			return (int)i;
	return -1;
}

int
pkgstatement_kind_parse(const char *label, enum pkg_kind *kind)
{
	int	i = pkgstatement_label_index(label);

	if (i == -1)
		return -1;
	*kind = pkgstatement_kinds[i].kind;
	return 0;
}

const char *
pkgstatement_name_key(enum pkg_kind kind)
{
	int	i = pkgstatement_kind_index(kind);

	return i == -1 ? "name" : pkgstatement_kinds[i].name_key;
}

const char *
pkgstatement_name_what(enum pkg_kind kind)
{
	int	i = pkgstatement_kind_index(kind);

	return i == -1 ? "name" : pkgstatement_kinds[i].name_what;
}

int
pkgstatement_word_ok(const char *s)
{
	size_t	i;

	if (s == NULL || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= PKGSTATEMENT_WORD_MAX ||
		    (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL))
			return 0;
	return 1;
}

/* 64 hex digits, either case, into lower case; -1 if it is not that. */
static int
pkgstatement_hex(const char *s, char *out)
{
	size_t	i;

	if (s == NULL || strlen(s) != 64)
		return -1;
	for (i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[64] = '\0';
	return 0;
}

char *
pkgstatement_encode(const struct pkg_statement *st, size_t *len, char *err,
    size_t errlen)
{
	char	 hex[65], *text;
	int	 k, n;

	if ((k = pkgstatement_kind_index(st->kind)) == -1) {
		snprintf(err, errlen, "statement: unknown kind %d", (int)st->kind);
		return NULL;
	}
	if (!pkgstatement_word_ok(st->publisher) ||
	    !pkgstatement_word_ok(st->name) || !pkgstatement_word_ok(st->version)) {
		snprintf(err, errlen, "statement: publisher, %s and version must "
		    "be 1-%d of [A-Za-z0-9._-] starting with a letter or digit",
		    pkgstatement_kinds[k].name_what, PKGSTATEMENT_WORD_MAX);
		return NULL;
	}
	if (pkgstatement_hex(st->sha256, hex) == -1) {
		snprintf(err, errlen, "statement: sha256 is not 64 hex digits");
		return NULL;
	}
	if (st->size > INT64_MAX) {
		snprintf(err, errlen, "statement: size out of range");
		return NULL;
	}
	/* The words need no escaping: their alphabet has no JSON syntax. */
	if ((n = asprintf(&text, "{\"signingInfo\":{\"kind\":\"%s\","
	    "\"publisher\":\"%s\",\"%s\":\"%s\",\"version\":\"%s\"},"
	    "\"sha256\":\"%s\",\"size\":%" PRIu64 "}",
	    pkgstatement_kinds[k].label, st->publisher,
	    pkgstatement_kinds[k].name_key, st->name, st->version, hex,
	    st->size)) == -1) {
		snprintf(err, errlen, "statement: out of memory");
		return NULL;
	}
	*len = (size_t)n;
	return text;
}

/* o[key], a word, into out (of PKGSTATEMENT_WORD_MAX + 1). */
static int
pkgstatement_word(json_t *o, const char *where, const char *key, char *out,
    char *err, size_t errlen)
{
	json_t	*v = json_object_get(o, key);

	if (!json_is_string(v)) {
		snprintf(err, errlen, "statement: %s\"%s\" is not a string",
		    where, key);
		return -1;
	}
	if (json_string_length(v) != strlen(json_string_value(v)) ||
	    !pkgstatement_word_ok(json_string_value(v))) {
		snprintf(err, errlen, "statement: %s\"%s\" is not 1-%d of "
		    "[A-Za-z0-9._-]", where, key, PKGSTATEMENT_WORD_MAX);
		return -1;
	}
	snprintf(out, PKGSTATEMENT_WORD_MAX + 1, "%s", json_string_value(v));
	return 0;
}

int
pkgstatement_parse(const void *text, size_t len, struct pkg_statement *st,
    char *err, size_t errlen)
{
	json_error_t	 jerr;
	json_t		*doc = NULL, *info, *v;
	int		 k, rc = -1;

	memset(st, 0, sizeof(*st));
	if (len > PKGSTATEMENT_MAX) {
		snprintf(err, errlen, "statement: %zu bytes, more than %d", len,
		    PKGSTATEMENT_MAX);
		return -1;
	}
	if ((doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "statement: not JSON: %s", jerr.text);
		return -1;
	}
	info = json_object_get(doc, "signingInfo");
	if (!json_is_object(doc) || json_object_size(doc) != 3 ||
	    !json_is_object(info) || json_object_get(doc, "sha256") == NULL ||
	    json_object_get(doc, "size") == NULL) {
		snprintf(err, errlen, "statement: expected {\"signingInfo\", "
		    "\"sha256\", \"size\"}");
		goto done;
	}
	if ((k = pkgstatement_label_index(json_string_value(json_object_get(info,
	    "kind")))) == -1) {
		snprintf(err, errlen, "statement: signingInfo's \"kind\" is not "
		    "\"extension\" or \"guestconfiguration\"");
		goto done;
	}
	st->kind = pkgstatement_kinds[k].kind;
	if (json_object_size(info) != 4 ||
	    json_object_get(info, pkgstatement_kinds[k].name_key) == NULL ||
	    json_object_get(info, "publisher") == NULL ||
	    json_object_get(info, "version") == NULL) {
		snprintf(err, errlen, "statement: expected signingInfo {\"kind\", "
		    "\"publisher\", \"%s\", \"version\"} for %s %s",
		    pkgstatement_kinds[k].name_key,
		    k == 0 ? "an" : "a", pkgstatement_kinds[k].label);
		goto done;
	}
	if (pkgstatement_word(info, "signingInfo's ", "publisher",
	    st->publisher, err, errlen) == -1 ||
	    pkgstatement_word(info, "signingInfo's ",
	    pkgstatement_kinds[k].name_key, st->name, err, errlen) == -1 ||
	    pkgstatement_word(info, "signingInfo's ", "version", st->version,
	    err, errlen) == -1)
		goto done;
	v = json_object_get(doc, "sha256");
	if (!json_is_string(v) ||
	    pkgstatement_hex(json_string_value(v), st->sha256) == -1) {
		snprintf(err, errlen, "statement: \"sha256\" is not 64 hex "
		    "digits");
		goto done;
	}
	v = json_object_get(doc, "size");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "statement: \"size\" is not a count of "
		    "bytes");
		goto done;
	}
	st->size = (uint64_t)json_integer_value(v);
	rc = 0;
 done:
	json_decref(doc);
	return rc;
}
