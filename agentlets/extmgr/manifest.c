/* manifest.c -- the handler protocol's JSON that a package and its handler write: HandlerManifest.json, status/<seq>.status and the heartbeat file, read without following a symlink. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "atomicfile.h"
#include "manifest.h"

#define MANIFEST_TRUNCATED	"[TRUNCATED]"

static const struct {
	const char	*key;		/* handlerManifest's member */
	const char	*name;		/* the VM agent's cmd_name */
	const char	*report;	/* the status report's operation */
	int		 code;		/* its failure code */
} manifest_ops[MANIFEST_OP_COUNT] = {
	[MANIFEST_OP_INSTALL] =	  { "installCommand", "install", "Install", 1007 },
	[MANIFEST_OP_ENABLE] =	  { "enableCommand", "enable", "Enable", 1009 },
	[MANIFEST_OP_UPDATE] =	  { "updateCommand", "update", "Update", 1008 },
	[MANIFEST_OP_DISABLE] =	  { "disableCommand", "disable", "Disable", 1010 },
	[MANIFEST_OP_UNINSTALL] = { "uninstallCommand", "uninstall", "Uninstall",
				    1000 },
};

static const char *const manifest_status_values[] = {
	"transitioning", "warning", "error", "success", NULL
};

const char *
manifest_op_name(enum manifest_op op)
{
	return (unsigned)op < MANIFEST_OP_COUNT ? manifest_ops[op].name : NULL;
}

const char *
manifest_op_report_name(enum manifest_op op)
{
	return (unsigned)op < MANIFEST_OP_COUNT ? manifest_ops[op].report : NULL;
}

int
manifest_op_error_code(enum manifest_op op)
{
	return (unsigned)op < MANIFEST_OP_COUNT ? manifest_ops[op].code : 1000;
}

static void
manifest_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
manifest_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Why manifest_read() returned NULL. */
enum manifest_read_fail {
	MANIFEST_READ_OTHER,	/* a symlink, not a file, unreadable */
	MANIFEST_READ_MISSING,	/* no such file */
	MANIFEST_READ_TOO_BIG	/* more than max bytes */
};

/*
 * Reads name in dirfd, a regular file of at most max bytes, never through
 * a symlink.  NULL with *why set and err filled when it cannot.
 */
static char *
manifest_read(int dirfd, const char *name, size_t max, size_t *len,
    enum manifest_read_fail *why, char *err, size_t errlen)
{
	struct stat	st;

	*why = MANIFEST_READ_OTHER;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			*why = MANIFEST_READ_MISSING;
		manifest_err(err, errlen, "%s: %s", name, strerror(errno));
		return NULL;
	}
	if (S_ISLNK(st.st_mode)) {
		manifest_err(err, errlen, "%s: a symbolic link, not followed",
		    name);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		manifest_err(err, errlen, "%s: not a regular file", name);
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		*why = MANIFEST_READ_TOO_BIG;
		manifest_err(err, errlen, "%s: %lld bytes, more than the %zu "
		    "allowed", name, (long long)st.st_size, max);
		return NULL;
	}
	/* Opened O_NOFOLLOW and capped again: it may change meanwhile. */
	return atomicfile_readat(dirfd, name, max, len, err, errlen);
}

/* A copy of s cut to max bytes (on a UTF-8 boundary) plus a marker. */
static char *
manifest_cut(const char *s, size_t max)
{
	size_t	 len = strlen(s), cut;
	char	*out;

	if (len <= max)
		return strdup(s);
	cut = max;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	if ((out = malloc(cut + sizeof(MANIFEST_TRUNCATED))) == NULL)
		return NULL;
	memcpy(out, s, cut);
	memcpy(out + cut, MANIFEST_TRUNCATED, sizeof(MANIFEST_TRUNCATED));
	return out;
}

/* The VM agent's boolean: true, or a string "true" in any case. */
static int
manifest_bool(json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v))
		return strcasecmp(json_string_value(v), "true") == 0;
	return 0;
}

static char *
manifest_optional_string(json_t *obj, const char *key)
{
	json_t	*v = json_object_get(obj, key);

	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

void
manifest_free(struct manifest *m)
{
	int	i;

	if (m == NULL)
		return;
	for (i = 0; i < MANIFEST_OP_COUNT; i++)
		free(m->command[i]);
	free(m->name);
	free(m->version);
	free(m);
}

int
manifest_parse(const char *buf, size_t len, struct manifest **out, char *err,
    size_t errlen)
{
	struct manifest	*m = NULL;
	json_error_t	 jerr;
	json_t		*root, *el, *hm, *v;
	const char	*s;
	int		 i;

	*out = NULL;
	if ((root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		manifest_err(err, errlen, "%s: not JSON: line %d: %s",
		    MANIFEST_FILE, jerr.line, jerr.text);
		return MANIFEST_ERR_INVALID;
	}
	if (!json_is_array(root) || json_array_size(root) == 0) {
		manifest_err(err, errlen, "%s: not a non-empty array",
		    MANIFEST_FILE);
		goto fail;
	}
	el = json_array_get(root, 0);
	if (!json_is_object(el)) {
		manifest_err(err, errlen, "%s: [0]: not an object",
		    MANIFEST_FILE);
		goto fail;
	}
	hm = json_object_get(el, "handlerManifest");
	if (!json_is_object(hm)) {
		manifest_err(err, errlen, "%s: [0].handlerManifest: %s",
		    MANIFEST_FILE, hm == NULL ? "missing" : "not an object");
		goto fail;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		manifest_err(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < MANIFEST_OP_COUNT; i++) {
		v = json_object_get(hm, manifest_ops[i].key);
		if (v == NULL || !json_is_string(v)) {
			manifest_err(err, errlen, "%s: [0].handlerManifest.%s: "
			    "%s", MANIFEST_FILE, manifest_ops[i].key,
			    v == NULL ? "missing" : "not a string");
			goto fail;
		}
		s = json_string_value(v);
		if (s[0] == '\0' || strlen(s) != json_string_length(v)) {
			manifest_err(err, errlen, "%s: [0].handlerManifest.%s: "
			    "%s", MANIFEST_FILE, manifest_ops[i].key,
			    s[0] == '\0' ? "empty" : "holds a NUL");
			goto fail;
		}
		if ((m->command[i] = strdup(s)) == NULL) {
			manifest_err(err, errlen, "out of memory");
			goto fail;
		}
	}
	m->report_heartbeat = manifest_bool(json_object_get(hm,
	    "reportHeartbeat"));
	m->continue_on_update_failure = manifest_bool(json_object_get(hm,
	    "continueOnUpdateFailure"));
	m->supports_multiple_extensions = manifest_bool(json_object_get(hm,
	    "supportsMultipleExtensions"));
	m->update_mode = MANIFEST_UPDATE_WITH_INSTALL;
	v = json_object_get(hm, "updateMode");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			manifest_err(err, errlen, "%s: [0].handlerManifest."
			    "updateMode: not a string", MANIFEST_FILE);
			goto fail;
		}
		s = json_string_value(v);
		if (strcasecmp(s, "UpdateWithoutInstall") == 0)
			m->update_mode = MANIFEST_UPDATE_WITHOUT_INSTALL;
		else if (strcasecmp(s, "UpdateWithInstall") != 0) {
			manifest_err(err, errlen, "%s: [0].handlerManifest."
			    "updateMode: \"%.64s\": neither UpdateWithInstall "
			    "nor UpdateWithoutInstall", MANIFEST_FILE, s);
			goto fail;
		}
	}
	m->name = manifest_optional_string(el, "name");
	m->version = manifest_optional_string(el, "version");
	json_decref(root);
	*out = m;
	return 0;
 fail:
	manifest_free(m);
	json_decref(root);
	return MANIFEST_ERR_INVALID;
}

int
manifest_load(int extdirfd, struct manifest **out, char *err, size_t errlen)
{
	enum manifest_read_fail	 why;
	char			*buf;
	size_t			 len;
	int			 rc;

	*out = NULL;
	if ((buf = manifest_read(extdirfd, MANIFEST_FILE, MANIFEST_MAX_BYTES,
	    &len, &why, err, errlen)) == NULL)
		/* Too big is a bad manifest; anything else is none at all. */
		return why == MANIFEST_READ_TOO_BIG ? MANIFEST_ERR_INVALID :
		    MANIFEST_ERR_MISSING;
	rc = manifest_parse(buf, len, out, err, errlen);
	free(buf);
	return rc;
}

/* formattedMessage: {"lang","message"}, message a string.  NULL with *bad
 * set when malformed. */
static const char *
manifest_formatted(json_t *fm, const char *where, int *bad, char *err,
    size_t errlen)
{
	json_t	*msg;

	*bad = 0;
	if (fm == NULL || json_is_null(fm))
		return NULL;
	msg = json_object_get(fm, "message");
	if (!json_is_object(fm) || !json_is_string(msg)) {
		manifest_err(err, errlen, "%s.formattedMessage: %s", where,
		    !json_is_object(fm) ? "not an object" :
		    msg == NULL ? "no message" : "message not a string");
		*bad = 1;
		return NULL;
	}
	return json_string_value(msg);
}

static int
manifest_status_value(const char *s)
{
	int	i;

	for (i = 0; manifest_status_values[i] != NULL; i++)
		if (strcmp(s, manifest_status_values[i]) == 0)
			return 1;
	return 0;
}

void
manifest_status_free(struct manifest_status *st)
{
	if (st == NULL)
		return;
	free(st->operation);
	free(st->name);
	free(st->message);
	free(st->timestamp);
	json_decref(st->substatus);
	free(st);
}

/* An "error" status of ours with message msg (cut to the cap). */
static struct manifest_status *
manifest_status_ours(const char *status, int code, const char *msg)
{
	struct manifest_status	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	snprintf(st->status, sizeof(st->status), "%s", status);
	st->code = code;
	if ((st->message = manifest_cut(msg, MANIFEST_STATUS_MAX_MESSAGE)) ==
	    NULL || (st->substatus = json_array()) == NULL) {
		manifest_status_free(st);
		return NULL;
	}
	return st;
}

/*
 * A status's or substatus's code.  The VM agent takes it without a type
 * check, and HandlerUtil writes it as a string ("0"): an integer, or a
 * string that is one in decimal, within int's range (absent or null: 0).
 * 0 with *code set, or -1 with why naming where and the value.
 */
static int
manifest_code(json_t *v, const char *where, int *code, char *why,
    size_t whylen)
{
	const char	*s, *p;
	long long	 n;

	*code = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_string(v)) {
		s = json_string_value(v);
		p = s[0] == '-' ? s + 1 : s;
		/* Digits only: strtoll would take " 7", "+7" and "7\n". */
		if (p[0] == '\0' || strspn(p, "0123456789") != strlen(p) ||
		    strlen(s) != json_string_length(v)) {
			snprintf(why, whylen, "%s.code: \"%.32s\" is not a "
			    "decimal integer", where, s);
			return -1;
		}
		errno = 0;
		n = strtoll(s, NULL, 10);
		if (errno == ERANGE)
			n = LLONG_MAX;
	} else {
		snprintf(why, whylen, "%s.code: not an integer or a string "
		    "of one", where);
		return -1;
	}
	if (n < INT_MIN || n > INT_MAX) {
		snprintf(why, whylen, "%s.code: out of range", where);
		return -1;
	}
	*code = (int)n;
	return 0;
}

/* Checks one substatus entry as the VM agent does: an object with a
 * status among the four values, formattedMessage well formed. */
static int
manifest_substatus_check(json_t *sub, size_t i, char *err, size_t errlen)
{
	json_t	*v;
	char	 where[64];
	int	 bad, code;

	snprintf(where, sizeof(where), "[0].status.substatus[%zu]", i);
	if (json_is_null(sub))
		return 0;
	if (!json_is_object(sub)) {
		manifest_err(err, errlen, "%s: not an object", where);
		return -1;
	}
	v = json_object_get(sub, "status");
	if (!json_is_string(v) || !manifest_status_value(json_string_value(v))) {
		manifest_err(err, errlen, "%s.status: %s", where, v == NULL ?
		    "missing" : "not transitioning, warning, error or success");
		return -1;
	}
	if (manifest_code(json_object_get(sub, "code"), where, &code, err,
	    errlen) == -1)
		return -1;
	manifest_formatted(json_object_get(sub, "formattedMessage"), where,
	    &bad, err, errlen);
	return bad ? -1 : 0;
}

int
manifest_status_parse(const char *buf, size_t len,
    struct manifest_status **out, char *err, size_t errlen)
{
	struct manifest_status	*st = NULL;
	json_error_t		 jerr;
	json_t			*root, *el, *sd, *v, *subs, *sub;
	const char		*msg, *s;
	char			 why[512], text[600];
	size_t			 i;
	int			 bad, code;

	*out = NULL;
	why[0] = '\0';
	if ((root = json_loadb(buf, len, 0, &jerr)) == NULL) {
		snprintf(why, sizeof(why), "not JSON: line %d: %s", jerr.line,
		    jerr.text);
		goto bad;
	}
	if (!json_is_array(root)) {
		snprintf(why, sizeof(why), "not an array");
		goto bad;
	}
	if (json_array_size(root) == 0) {
		/* The VM agent reports nothing for []: still working. */
		json_decref(root);
		if ((*out = manifest_status_ours("transitioning", 0,
		    "the status file is an empty array")) == NULL)
			return -1;
		(*out)->from_handler = 1;
		return 0;
	}
	el = json_array_get(root, 0);
	sd = json_object_get(el, "status");
	if (!json_is_object(el) || !json_is_object(sd)) {
		snprintf(why, sizeof(why), "[0].status: %s", !json_is_object(el)
		    ? "[0] not an object" : sd == NULL ? "missing" :
		    "not an object");
		goto bad;
	}
	v = json_object_get(sd, "status");
	if (!json_is_string(v)) {
		snprintf(why, sizeof(why), "[0].status.status: %s", v == NULL ?
		    "missing" : "not a string");
		goto bad;
	}
	s = json_string_value(v);
	if (manifest_code(json_object_get(sd, "code"), "[0].status", &code,
	    why, sizeof(why)) == -1)
		goto bad;
	msg = manifest_formatted(json_object_get(sd, "formattedMessage"),
	    "[0].status", &bad, why, sizeof(why));
	if (bad)
		goto bad;
	subs = json_object_get(sd, "substatus");
	if (subs != NULL && !json_is_null(subs) && !json_is_array(subs)) {
		snprintf(why, sizeof(why), "[0].status.substatus: not an array");
		goto bad;
	}
	json_array_foreach(subs, i, sub)
		if (manifest_substatus_check(sub, i, why, sizeof(why)) == -1)
			goto bad;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		goto nomem;
	st->from_handler = 1;
	/* An unknown value is an error, as the VM agent makes it. */
	snprintf(st->status, sizeof(st->status), "%s",
	    manifest_status_value(s) ? s : "error");
	st->code = code;
	if (msg != NULL && (st->message = manifest_cut(msg,
	    MANIFEST_STATUS_MAX_MESSAGE)) == NULL)
		goto nomem;
	if (((v = json_object_get(sd, "operation")) != NULL &&
	    json_is_string(v) && (st->operation = manifest_cut(
	    json_string_value(v), 64)) == NULL) ||
	    ((v = json_object_get(sd, "name")) != NULL && json_is_string(v) &&
	    (st->name = manifest_cut(json_string_value(v), 256)) == NULL) ||
	    ((v = json_object_get(el, "timestampUTC")) != NULL &&
	    json_is_string(v) && (st->timestamp = manifest_cut(
	    json_string_value(v), 64)) == NULL))
		goto nomem;
	/* The substatus entries, their null ones dropped, as many as a
	 * report carries: past that the cloud would refuse the report. */
	if ((st->substatus = json_array()) == NULL)
		goto nomem;
	json_array_foreach(subs, i, sub)
		if (!json_is_null(sub) && json_array_size(st->substatus) <
		    MANIFEST_SUBSTATUS_MAX && json_array_append(st->substatus,
		    sub) == -1)
			goto nomem;
	json_decref(root);
	*out = st;
	return 0;
 bad:
	json_decref(root);
	manifest_err(err, errlen, "%s", why);
	snprintf(text, sizeof(text), "the handler's status file is "
	    "malformed: %s", why);
	if ((*out = manifest_status_ours("error", MANIFEST_ERR_STATUS,
	    text)) == NULL)
		return -1;
	return MANIFEST_ERR_STATUS;
 nomem:
	manifest_status_free(st);
	json_decref(root);
	manifest_err(err, errlen, "out of memory");
	return -1;
}

int
manifest_status_read(int extdirfd, long seq, struct manifest_status **out)
{
	enum manifest_read_fail	 fail;
	char			 name[64], why[512], msg[700];
	char			*buf;
	size_t			 len;
	int			 dfd, rc;

	*out = NULL;
	snprintf(name, sizeof(name), "%ld.status", seq);
	if ((dfd = openat(extdirfd, "status", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			snprintf(msg, sizeof(msg), "no status file "
			    "status/%s yet", name);
			*out = manifest_status_ours("transitioning", 0, msg);
		} else {
			snprintf(msg, sizeof(msg), "status/: %s",
			    errno == ELOOP || errno == ENOTDIR ?
			    "not a directory (a symbolic link is not followed)"
			    : strerror(errno));
			*out = manifest_status_ours("error",
			    MANIFEST_ERR_STATUS, msg);
		}
		return *out == NULL ? -1 : 0;
	}
	buf = manifest_read(dfd, name, MANIFEST_STATUS_MAX_BYTES, &len,
	    &fail, why, sizeof(why));
	close(dfd);
	if (buf == NULL) {
		if (fail == MANIFEST_READ_MISSING) {
			snprintf(msg, sizeof(msg), "no status file "
			    "status/%s yet", name);
			*out = manifest_status_ours("transitioning", 0, msg);
		} else {
			snprintf(msg, sizeof(msg), "status/%s", why);
			*out = manifest_status_ours("error",
			    MANIFEST_ERR_STATUS, msg);
		}
		return *out == NULL ? -1 : 0;
	}
	rc = manifest_status_parse(buf, len, out, why, sizeof(why));
	free(buf);
	if (rc == MANIFEST_ERR_STATUS) {
		/* Name the file in our message. */
		snprintf(msg, sizeof(msg), "status/%s: malformed: %s", name,
		    why);
		free((*out)->message);
		if (((*out)->message = manifest_cut(msg,
		    MANIFEST_STATUS_MAX_MESSAGE)) == NULL) {
			manifest_status_free(*out);
			*out = NULL;
			return -1;
		}
		return 0;
	}
	return rc;
}

void
manifest_heartbeat_free(struct manifest_heartbeat *hb)
{
	if (hb == NULL)
		return;
	free(hb->message);
	free(hb);
}

static struct manifest_heartbeat *
manifest_heartbeat_ours(const char *status, int code, const char *msg)
{
	struct manifest_heartbeat	*hb;

	if ((hb = calloc(1, sizeof(*hb))) == NULL)
		return NULL;
	snprintf(hb->status, sizeof(hb->status), "%s", status);
	hb->code = code;
	if ((hb->message = manifest_cut(msg, MANIFEST_STATUS_MAX_MESSAGE)) ==
	    NULL) {
		free(hb);
		return NULL;
	}
	return hb;
}

int
manifest_heartbeat_parse(const char *buf, size_t len,
    struct manifest_heartbeat **out, char *err, size_t errlen)
{
	struct manifest_heartbeat	*hb = NULL;
	json_error_t			 jerr;
	json_t				*root, *h, *v;
	const char			*msg;
	char				 why[512], text[600];
	int				 bad;

	*out = NULL;
	why[0] = '\0';
	if ((root = json_loadb(buf, len, 0, &jerr)) == NULL) {
		snprintf(why, sizeof(why), "not JSON: line %d: %s", jerr.line,
		    jerr.text);
		goto bad;
	}
	h = json_object_get(json_array_get(root, 0), "heartbeat");
	if (!json_is_object(h)) {
		snprintf(why, sizeof(why), "[0].heartbeat: missing or not an "
		    "object");
		goto bad;
	}
	v = json_object_get(h, "status");
	if (!json_is_string(v)) {
		snprintf(why, sizeof(why), "[0].heartbeat.status: %s",
		    v == NULL ? "missing" : "not a string");
		goto bad;
	}
	msg = manifest_formatted(json_object_get(h, "formattedMessage"),
	    "[0].heartbeat", &bad, why, sizeof(why));
	if (bad)
		goto bad;
	if ((hb = manifest_heartbeat_ours(json_string_value(v), 0,
	    msg != NULL ? msg : "")) == NULL)
		goto nomem;
	v = json_object_get(h, "code");
	hb->code = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	hb->responsive = 1;
	json_decref(root);
	*out = hb;
	return 0;
 bad:
	json_decref(root);
	manifest_err(err, errlen, "%s", why);
	snprintf(text, sizeof(text), "the heartbeat file is malformed: %s",
	    why);
	if ((*out = manifest_heartbeat_ours("error", MANIFEST_ERR_STATUS,
	    text)) == NULL)
		return -1;
	return MANIFEST_ERR_STATUS;
 nomem:
	json_decref(root);
	manifest_err(err, errlen, "out of memory");
	return -1;
}

int
manifest_heartbeat_read(int extdirfd, time_t now, long stale_seconds,
    struct manifest_heartbeat **out)
{
	enum manifest_read_fail	 fail;
	struct stat		 st;
	char			 why[512], msg[600];
	char			*buf;
	size_t			 len;
	int			 missing, rc;

	*out = NULL;
	if ((buf = manifest_read(extdirfd, MANIFEST_HEARTBEAT_FILE,
	    MANIFEST_HEARTBEAT_MAX_BYTES, &len, &fail, why,
	    sizeof(why))) == NULL) {
		missing = fail == MANIFEST_READ_MISSING;
		snprintf(msg, sizeof(msg), "%s", missing ?
		    "no heartbeat file " MANIFEST_HEARTBEAT_FILE : why);
		*out = manifest_heartbeat_ours("error", missing ? -1 :
		    MANIFEST_ERR_STATUS, msg);
		return *out == NULL ? -1 : 0;
	}
	/* Its age, from the name just read (not followed). */
	if (fstatat(extdirfd, MANIFEST_HEARTBEAT_FILE, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 &&
	    now - st.st_mtime > stale_seconds) {
		free(buf);
		*out = manifest_heartbeat_ours("Unresponsive", -1,
		    "Extension heartbeat is not responsive");
		return *out == NULL ? -1 : 0;
	}
	rc = manifest_heartbeat_parse(buf, len, out, why, sizeof(why));
	free(buf);
	return rc == -1 ? -1 : 0;
}
