/* extreq.c -- the extension requests' bodies, checked: the operator's PUT and the machine's status report, and the names they carry. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "extreq.h"

static const char *const extreq_put_keys[] = {
	"publisher", "type", "version", "publicSettings", "protectedSettings",
	NULL
};
static const char *const extreq_status_keys[] = {
	"sequenceNumber", "version", "operation", "status", "code", "message",
	"handlerState", "substatus", NULL
};
static const char *const extreq_cert_keys[] = { "certificate", NULL };
static const char *const extreq_operations[] = {
	"Download", "Verify", "Install", "Enable", "Update", "Disable",
	"Uninstall", NULL
};
static const char *const extreq_statuses[] = {
	"transitioning", "success", "warning", "error", NULL
};
static const char *const extreq_handler_states[] = {
	"NotInstalled", "Installed", "Enabled", "FailedUpgrade", NULL
};

int
extreq_publisher_ok(const char *name)
{
	size_t	len = strlen(name), i;

	if (len == 0 || len > EXTREQ_PUBLISHER_MAX || name[0] == '.' ||
	    name[len - 1] == '.' || strstr(name, "..") != NULL)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.')
			return 0;
	return 1;
}

int
extreq_type_ok(const char *s)
{
	size_t	len = strlen(s), i;

	if (len == 0 || len > EXTREQ_TYPE_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' &&
		    s[i] != '-')
			return 0;
	return 1;
}

int
extreq_version_ok(const char *s)
{
	int	parts = 1, digits = 0;

	if (strlen(s) > EXTREQ_VERSION_MAX)
		return 0;
	for (; *s != '\0'; s++) {
		if (isdigit((unsigned char)*s)) {
			if (++digits > 9)
				return 0;
			continue;
		}
		if (*s != '.' || digits == 0 || ++parts > 4)
			return 0;
		digits = 0;
	}
	return digits > 0;
}

static int
extreq_in(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* The body as an object with no member outside keys; NULL with why. */
static json_t *
extreq_object(const char *body, size_t len, const char *const *keys,
    const char **code, char *why, size_t whylen)
{
	json_error_t	 jerr;
	json_t		*doc, *v;
	const char	*key;

	*code = "InvalidJson";
	if (len == 0) {
		snprintf(why, whylen, "expected a JSON object as the body "
		    "(Content-Type: application/json)");
		return NULL;
	}
	if ((doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(why, whylen, "the body is not JSON: %s (line %d, column "
		    "%d)", jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		snprintf(why, whylen, "expected a JSON object as the body");
		return NULL;
	}
	*code = "InvalidRequest";
	json_object_foreach(doc, key, v) {
		if (!extreq_in(key, keys)) {
			snprintf(why, whylen, "unknown member \"%.64s\"", key);
			json_decref(doc);
			return NULL;
		}
	}
	return doc;
}

/* A string member that ok() accepts; NULL with why. */
static const char *
extreq_name(json_t *doc, const char *key, int (*ok)(const char *),
    const char *expected, char *why, size_t whylen)
{
	json_t		*v = json_object_get(doc, key);
	const char	*s = json_string_value(v);

	if (s == NULL || strlen(s) != json_string_length(v) || !ok(s)) {
		snprintf(why, whylen, "%s: expected %s", key, expected);
		return NULL;
	}
	return s;
}

int
extreq_put_parse(const char *body, size_t len, struct extreq_put *p,
    const char **code, char *why, size_t whylen)
{
	json_t	*v;

	memset(p, 0, sizeof(*p));
	if ((p->doc = extreq_object(body, len, extreq_put_keys, code, why,
	    whylen)) == NULL)
		return -1;
	if ((p->publisher = extreq_name(p->doc, "publisher", extreq_publisher_ok,
	    "1-64 of [A-Za-z0-9.], like \"Contoso.Monitoring\"", why,
	    whylen)) == NULL ||
	    (p->type = extreq_name(p->doc, "type", extreq_type_ok, "1-64 of "
	    "[A-Za-z0-9._-], like \"CustomScript\"", why, whylen)) == NULL ||
	    (p->version = extreq_name(p->doc, "version", extreq_version_ok,
	    "1 to 4 dot-separated numbers, like \"1.0\"", why, whylen)) == NULL)
		goto fail;
	v = json_object_get(p->doc, "publicSettings");
	if (v != NULL && !json_is_object(v) && !json_is_null(v)) {
		snprintf(why, whylen, "publicSettings: expected an object");
		goto fail;
	}
	if (v == NULL || json_is_null(v)) {
		if ((v = json_object()) == NULL ||
		    json_object_set_new(p->doc, "publicSettings", v) == -1) {
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
	}
	p->public_settings = v;
	v = json_object_get(p->doc, "protectedSettings");
	if (v != NULL && !json_is_object(v) && !json_is_null(v)) {
		snprintf(why, whylen, "protectedSettings: expected an object");
		goto fail;
	}
	p->protected_settings = json_is_object(v) ? v : NULL;
	return 0;
 fail:
	*code = "InvalidRequest";
	extreq_put_free(p);
	return -1;
}

void
extreq_put_free(struct extreq_put *p)
{
	json_decref(p->doc);
	memset(p, 0, sizeof(*p));
}

/* A string member, one of list (NULL: any); optional ones may be absent. */
static int
extreq_word(json_t *doc, const char *key, const char *const *list,
    int optional, const char **out, char *why, size_t whylen)
{
	json_t	*v = json_object_get(doc, key);

	*out = NULL;
	if (v == NULL && optional)
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) !=
	    json_string_length(v) || (list != NULL &&
	    !extreq_in(json_string_value(v), list))) {
		if (list == extreq_operations)
			snprintf(why, whylen, "%s: expected one of Download, "
			    "Verify, Install, Enable, Update, Disable, Uninstall",
			    key);
		else if (list == extreq_statuses)
			snprintf(why, whylen, "%s: expected one of transitioning, "
			    "success, warning, error", key);
		else if (list == extreq_handler_states)
			snprintf(why, whylen, "%s: expected one of NotInstalled, "
			    "Installed, Enabled, FailedUpgrade", key);
		else
			snprintf(why, whylen, "%s: expected a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int
extreq_status_parse(const char *body, size_t len, struct extreq_status *s,
    const char **code, char *why, size_t whylen)
{
	json_t	*v;

	memset(s, 0, sizeof(*s));
	if ((s->doc = extreq_object(body, len, extreq_status_keys, code, why,
	    whylen)) == NULL)
		return -1;
	v = json_object_get(s->doc, "sequenceNumber");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why, whylen, "sequenceNumber: expected the extension's "
		    "sequence number (an integer, 0 or more)");
		goto fail;
	}
	s->sequence_number = json_integer_value(v);
	if (extreq_word(s->doc, "operation", extreq_operations, 0, &s->operation,
	    why, whylen) == -1 ||
	    extreq_word(s->doc, "status", extreq_statuses, 0, &s->status, why,
	    whylen) == -1 ||
	    extreq_word(s->doc, "handlerState", extreq_handler_states, 1,
	    &s->handler_state, why, whylen) == -1 ||
	    extreq_word(s->doc, "message", NULL, 1, &s->message, why,
	    whylen) == -1)
		goto fail;
	if (s->message == NULL)
		s->message = "";
	/* Informational: "" when the machine never had a version of it
	 * (the uninstall of an extension it never installed). */
	if (extreq_word(s->doc, "version", NULL, 1, &s->version, why,
	    whylen) == -1)
		goto fail;
	if (s->version == NULL)
		s->version = "";
	if (strlen(s->version) > EXTREQ_VERSION_MAX) {
		snprintf(why, whylen, "version: expected at most %d characters",
		    EXTREQ_VERSION_MAX);
		goto fail;
	}
	v = json_object_get(s->doc, "code");
	if (v != NULL && !json_is_integer(v)) {
		snprintf(why, whylen, "code: expected an integer");
		goto fail;
	}
	s->code = v != NULL ? json_integer_value(v) : 0;
	v = json_object_get(s->doc, "substatus");
	if (v != NULL && !json_is_null(v) && (!json_is_array(v) ||
	    json_array_size(v) > EXTREQ_SUBSTATUS_MAX)) {
		snprintf(why, whylen, "substatus: expected an array of at most %d "
		    "entries", EXTREQ_SUBSTATUS_MAX);
		goto fail;
	}
	s->substatus = json_is_array(v) ? v : NULL;
	return 0;
 fail:
	*code = "InvalidRequest";
	extreq_status_free(s);
	return -1;
}

void
extreq_status_free(struct extreq_status *s)
{
	json_decref(s->doc);
	memset(s, 0, sizeof(*s));
}

json_t *
extreq_status_json(const struct extreq_status *s)
{
	json_t	*o;
	size_t	 len = strlen(s->message);

	if (len > EXTREQ_MESSAGE_MAX) {
		len = EXTREQ_MESSAGE_MAX;
		/* Not in the middle of a UTF-8 sequence. */
		while (len > 0 && ((unsigned char)s->message[len] & 0xc0) == 0x80)
			len--;
	}
	if ((o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:s%}",
	    "sequenceNumber", (json_int_t)s->sequence_number,
	    "version", s->version, "operation", s->operation,
	    "status", s->status, "code", (json_int_t)s->code,
	    "message", s->message, len)) == NULL)
		return NULL;
	if (s->handler_state != NULL)
		json_object_set_new(o, "handlerState",
		    json_string(s->handler_state));
	if (s->substatus != NULL)
		json_object_set(o, "substatus", s->substatus);
	return o;
}

int
extreq_cert_parse(const char *body, size_t len, json_t **doc, const char **pem,
    const char **code, char *why, size_t whylen)
{
	*pem = NULL;
	if ((*doc = extreq_object(body, len, extreq_cert_keys, code, why,
	    whylen)) == NULL)
		return -1;
	if (extreq_word(*doc, "certificate", NULL, 0, pem, why, whylen) == -1 ||
	    strstr(*pem, "-----BEGIN CERTIFICATE-----") == NULL) {
		snprintf(why, whylen, "certificate: expected the PEM of the "
		    "settings certificate (-----BEGIN CERTIFICATE-----)");
		*code = "InvalidCertificate";
		json_decref(*doc);
		*doc = NULL;
		*pem = NULL;
		return -1;
	}
	return 0;
}
