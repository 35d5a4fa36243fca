/* doc.c -- the configuration document parsed: version, resources, parameters substituted, audit conditions; a bad resource is kept and fails alone. */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"

#define GC_ID_MAX		128
#define GC_NAME_MAX		256
#define GC_COND_DEPTH		16
#define GC_COND_NODES		256	/* per resource */
#define GC_PARAMS_MAX		1000

static const struct gc_type *const gc_types[] = {
	&gc_type_file, &gc_type_file_line, &gc_type_directory, &gc_type_sysctl,
	&gc_type_user, &gc_type_group, &gc_type_package,
	&gc_type_command_output, NULL
};

const struct gc_type *
gc_type_find(const char *name)
{
	size_t	 i;

	for (i = 0; gc_types[i] != NULL; i++)
		if (strcmp(gc_types[i]->name, name) == 0)
			return gc_types[i];
	return NULL;
}

int
gc_props_only(const json_t *props, const char *const *keys, char *err,
    size_t errlen)
{
	const char	*key;
	json_t		*v;
	size_t		 i;

	json_object_foreach((json_t *)props, key, v) {
		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(keys[i], key) == 0)
				break;
		if (keys[i] == NULL) {
			snprintf(err, errlen, "unknown property \"%.64s\"",
			    key);
			return -1;
		}
	}
	return 0;
}

int
gc_prop_str(const json_t *props, const char *key, int required, char **out,
    char *err, size_t errlen)
{
	json_t	*v;

	*out = NULL;
	if ((v = json_object_get(props, key)) == NULL) {
		if (!required)
			return 0;
		snprintf(err, errlen, "property %s is missing", key);
		return -1;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "property %s: expected a string", key);
		return -1;
	}
	if (json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "property %s: empty or holds a NUL", key);
		return -1;
	}
	if ((*out = strdup(json_string_value(v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
gc_prop_ensure(const json_t *props, const char *yes, const char *no, int *out,
    char *err, size_t errlen)
{
	json_t		*v;
	const char	*s;

	*out = 1;
	if ((v = json_object_get(props, "ensure")) == NULL)
		return 0;
	s = json_string_value(v);
	if (s != NULL && strcmp(s, yes) == 0)
		return 0;
	if (s != NULL && strcmp(s, no) == 0) {
		*out = 0;
		return 0;
	}
	snprintf(err, errlen, "property ensure: expected \"%s\" or \"%s\"",
	    yes, no);
	return -1;
}

int
gc_prop_path(const json_t *props, char **out, char *err, size_t errlen)
{
	const char	*s;
	size_t		 i;

	if (gc_prop_str(props, "path", 1, out, err, errlen) == -1)
		return -1;
	s = *out;
	if (s[0] != '/' || strlen(s) >= PATH_MAX || strcmp(s, "/") == 0)
		goto bad;
	for (i = 0; s[i] != '\0'; i++) {
		/* no "." or ".." component, no "//", no trailing slash */
		if (s[i] == '/' && (s[i + 1] == '/' || s[i + 1] == '\0'))
			goto bad;
		if (s[i] == '/' && s[i + 1] == '.' && (s[i + 2] == '/' ||
		    s[i + 2] == '\0' || (s[i + 2] == '.' && (s[i + 3] == '/' ||
		    s[i + 3] == '\0'))))
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "property path \"%.200s\": expected an absolute "
	    "path without \".\", \"..\", \"//\" or a trailing \"/\"", s);
	free(*out);
	*out = NULL;
	return -1;
}

int
gc_prop_mode(const json_t *props, int *out, char *err, size_t errlen)
{
	json_t		*v;
	const char	*s;
	size_t		 i, n;

	*out = -1;
	if ((v = json_object_get(props, "mode")) == NULL)
		return 0;
	if ((s = json_string_value(v)) == NULL)
		goto bad;
	n = strlen(s);
	if (n < 3 || n > 4)
		goto bad;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '7')
			goto bad;
	*out = (int)strtol(s, NULL, 8);
	return 0;
bad:
	snprintf(err, errlen, "property mode: expected an octal string like "
	    "\"0600\"");
	return -1;
}

int
gc_valid_account_name(const char *s)
{
	size_t	 i;

	if (s[0] == '\0' || s[0] == '-' || strlen(s) > 32)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.' && !(s[i] == '$' &&
		    s[i + 1] == '\0'))
			return 0;
	return 1;
}

int
gc_prop_id(const json_t *props, const char *key, char **out, char *err,
    size_t errlen)
{
	json_t	*v;
	char	 buf[32];

	*out = NULL;
	if ((v = json_object_get(props, key)) == NULL)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) < 4294967295LL) {
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)json_integer_value(v));
		*out = strdup(buf);
	} else if (json_is_string(v) &&
	    gc_valid_account_name(json_string_value(v)))
		*out = strdup(json_string_value(v));
	else {
		snprintf(err, errlen, "property %s: expected a name or a "
		    "number", key);
		return -1;
	}
	if (*out == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

long
gc_id_resolve(const char *text, int isgroup)
{
	struct passwd	 pw, *pwp = NULL;
	struct group	 gr, *grp = NULL;
	char		 buf[16384], *end;
	long		 n;

	if (isdigit((unsigned char)text[0])) {
		errno = 0;
		n = strtol(text, &end, 10);
		if (errno == 0 && *end == '\0')
			return n;
	}
	if (isgroup) {
		if (getgrnam_r(text, &gr, buf, sizeof(buf), &grp) != 0 ||
		    grp == NULL)
			return -1;
		return (long)grp->gr_gid;
	}
	if (getpwnam_r(text, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL)
		return -1;
	return (long)pwp->pw_uid;
}

#define GC_REGEX_MAX		1024
#define GC_REGEX_REPEAT_MAX	4096
#define GC_REGEX_NEST_MAX	4	/* repeats inside repeated groups */
#define GC_REGEX_GROUPS_MAX	64

/* glibc's regcomp() takes memory exponential in repeats of repeats: "a++++"
 * with 20 '+' or 20 groups nested as "((a)+)+" each cost it over 700 MB.
 * NULL when text has no repeat applied to a repeat and repeats nest at most
 * GC_REGEX_NEST_MAX deep; else why not. */
static const char *
gc_regex_shape(const char *text)
{
	int		 inner[GC_REGEX_GROUPS_MAX];	/* deepest in each open group */
	int		 depth = 0, atom = -1, quantified = 0, q;
	const char	*s;

	for (s = text; *s != '\0'; s++) {
		if (*s == '*' || *s == '+' || *s == '?' ||
		    (*s == '{' && isdigit((unsigned char)s[1]))) {
			if (quantified)
				return "a repeat of a repeat (as \"a+*\")";
			if (atom < 0)
				continue;	/* a literal at the start */
			if ((q = atom + 1) > GC_REGEX_NEST_MAX)
				return "repeats nested more than 4 deep";
			if (depth > 0 && q > inner[depth - 1])
				inner[depth - 1] = q;
			quantified = 1;
			if (*s == '{')
				s += strcspn(s, "}") - (s[strcspn(s, "}")] == '\0');
			continue;
		}
		quantified = 0;
		atom = 0;
		switch (*s) {
		case '\\':
			if (s[1] != '\0')
				s++;
			break;
		case '[':
			/* A bracket expression: "[]" and "[^]" hold a ']',
			 * and "[:class:]" its own. */
			s++;
			if (*s == '^')
				s++;
			if (*s == ']')
				s++;
			while (*s != '\0' && *s != ']') {
				if (*s == '[' && (s[1] == ':' || s[1] == '.' ||
				    s[1] == '=')) {
					const char *e = strchr(s + 2, s[1]);

					s = e != NULL && e[1] == ']' ? e + 2 :
					    s + 1;
				} else
					s++;
			}
			if (*s == '\0')
				return NULL;	/* regcomp says what is wrong */
			break;
		case '(':
			if (depth == GC_REGEX_GROUPS_MAX)
				return "more than 64 groups open at once";
			inner[depth++] = 0;
			atom = -1;
			break;
		case ')':
			if (depth > 0) {
				atom = inner[--depth];
				if (depth > 0 && atom > inner[depth - 1])
					inner[depth - 1] = atom;
			}
			break;
		case '|':
		case '^':
			atom = -1;
			break;
		default:
			break;
		}
	}
	return NULL;
}

int
gc_prop_regex(const json_t *props, const char *key, int flags, regex_t *re,
    char **text, char *err, size_t errlen)
{
	const char	*s, *shape;
	char		 why[128], *end;
	unsigned long	 product = 1, m, n;
	int		 r;

	if (gc_prop_str(props, key, 1, text, err, errlen) == -1)
		return -1;
	if (strlen(*text) > GC_REGEX_MAX) {
		snprintf(err, errlen, "property %s: longer than %d", key,
		    GC_REGEX_MAX);
		return -1;
	}
	for (s = *text; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			continue;
		}
		if (*s != '{' || !isdigit((unsigned char)s[1]))
			continue;
		m = strtoul(s + 1, &end, 10);
		n = m;
		if (*end == ',' && isdigit((unsigned char)end[1]))
			n = strtoul(end + 1, &end, 10);
		if (n < m)
			n = m;
		if (n > GC_REGEX_REPEAT_MAX || (product *= n > 0 ? n : 1) >
		    GC_REGEX_REPEAT_MAX) {
			snprintf(err, errlen, "property %s: its {m,n} bounds "
			    "multiply to more than %d", key,
			    GC_REGEX_REPEAT_MAX);
			return -1;
		}
	}
	if ((shape = gc_regex_shape(*text)) != NULL) {
		snprintf(err, errlen, "property %s: %s", key, shape);
		return -1;
	}
	if ((r = regcomp(re, *text, REG_EXTENDED | REG_NOSUB | flags)) != 0) {
		regerror(r, re, why, sizeof(why));
		snprintf(err, errlen, "property %s: %s", key, why);
		return -1;
	}
	return 0;
}

int
gc_prop_int(const json_t *props, const char *key, long long min,
    long long max, long long def, long long *out, char *err, size_t errlen)
{
	json_t	*v;

	*out = def;
	if ((v = json_object_get(props, key)) == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(err, errlen, "property %s: expected an integer from "
		    "%lld to %lld", key, min, max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int
valid_id(const char *s)
{
	size_t	 i;

	if (s[0] == '\0' || strlen(s) > GC_ID_MAX)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("_.-", s[i]) ==
		    NULL)
			return 0;
	return 1;
}

static void
check_free(struct gc_check *c)
{
	if (c->type != NULL && c->props != NULL)
		c->type->free(c->props);
	free(c->props);
	c->props = NULL;
}

static void
cond_free(struct gc_cond *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	check_free(&c->check);
	for (i = 0; i < c->nkids; i++)
		cond_free(c->kids[i]);
	free(c->kids);
	free(c);
}

/* A type's properties into c; *code says which reason when it fails. */
static int
check_parse(struct gc_check *c, const char *typename, const json_t *props,
    const char **code, char *err, size_t errlen)
{
	char	 why[512];

	if ((c->type = gc_type_find(typename)) == NULL) {
		snprintf(err, errlen, "unknown resource type \"%.64s\"",
		    typename);
		*code = "GC::RESOURCE::UNKNOWNTYPE";
		return -1;
	}
	*code = "GC::RESOURCE::INVALID";
	if (!json_is_object(props)) {
		snprintf(err, errlen, "%s: properties: expected an object",
		    typename);
		return -1;
	}
	if ((c->props = calloc(1, c->type->size)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	why[0] = '\0';
	if (c->type->parse(c->props, props, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", typename, why);
		check_free(c);
		return -1;
	}
	return 0;
}

static struct gc_cond *
cond_parse(const json_t *j, int depth, int *nodes, const char **code,
    char *err, size_t errlen)
{
	static const char *const	 check_keys[] = { "type", "properties",
	    NULL };
	struct gc_cond			*c;
	const char			*key = NULL;
	json_t				*v, *kid;
	size_t				 i;

	*code = "GC::RESOURCE::INVALID";
	if (depth > GC_COND_DEPTH || ++*nodes > GC_COND_NODES) {
		snprintf(err, errlen, "audit: nested too deep or too large");
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(err, errlen, "audit: expected an object");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (json_object_get(j, "type") != NULL) {
		c->kind = GC_COND_CHECK;
		if (gc_props_only(j, check_keys, err, errlen) == -1 ||
		    !json_is_string(json_object_get(j, "type"))) {
			if (json_is_string(json_object_get(j, "type")))
				snprintf(err, errlen, "audit: a check has only "
				    "type and properties");
			else
				snprintf(err, errlen, "audit: type: expected "
				    "a string");
			goto fail;
		}
		if (check_parse(&c->check, json_string_value(json_object_get(j,
		    "type")), json_object_get(j, "properties"), code, err,
		    errlen) == -1)
			goto fail;
		return c;
	}
	if (json_object_size(j) != 1) {
		snprintf(err, errlen, "audit: expected one of allOf, anyOf, "
		    "not or a check with a type");
		goto fail;
	}
	json_object_foreach((json_t *)j, key, v)
		break;
	if (strcmp(key, "not") == 0) {
		c->kind = GC_COND_NOT;
		if ((c->kids = calloc(1, sizeof(*c->kids))) == NULL)
			goto oom;
		if ((c->kids[0] = cond_parse(v, depth + 1, nodes, code, err,
		    errlen)) == NULL)
			goto fail;
		c->nkids = 1;
		return c;
	}
	if (strcmp(key, "allOf") == 0)
		c->kind = GC_COND_ALLOF;
	else if (strcmp(key, "anyOf") == 0)
		c->kind = GC_COND_ANYOF;
	else {
		snprintf(err, errlen, "audit: unknown operator \"%.32s\"", key);
		goto fail;
	}
	if (!json_is_array(v) || json_array_size(v) == 0) {
		snprintf(err, errlen, "audit: %s: expected a non-empty array",
		    key);
		goto fail;
	}
	if ((c->kids = calloc(json_array_size(v), sizeof(*c->kids))) == NULL)
		goto oom;
	json_array_foreach(v, i, kid) {
		if ((c->kids[i] = cond_parse(kid, depth + 1, nodes, code, err,
		    errlen)) == NULL)
			goto fail;
		c->nkids++;
	}
	return c;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	cond_free(c);
	return NULL;
}

/* "[type]id;prop" split in place; -1 when it is not of that shape. */
static int
param_split(char *name, char **type, char **id, char **prop)
{
	char	*close, *semi;

	if (name[0] != '[' || (close = strchr(name, ']')) == NULL ||
	    (semi = strchr(close, ';')) == NULL)
		return -1;
	*close = '\0';
	*semi = '\0';
	*type = name + 1;
	*id = close + 1;
	*prop = semi + 1;
	if (**type == '\0' || **id == '\0' || **prop == '\0' ||
	    strchr(*prop, ';') != NULL)
		return -1;
	return 0;
}

/* The parameter's text as the type the document's own value has. */
static json_t *
param_value(const json_t *value, const json_t *old, char *err, size_t errlen)
{
	const char	*s;
	char		*end;
	long long	 n;

	if (!json_is_string(value)) {
		if (json_is_number(value) || json_is_boolean(value))
			return json_deep_copy(value);
		snprintf(err, errlen, "expected a string value");
		return NULL;
	}
	s = json_string_value(value);
	if (json_is_integer(old)) {
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno != 0 || end == s || *end != '\0') {
			snprintf(err, errlen, "\"%.64s\" is not an integer", s);
			return NULL;
		}
		return json_integer(n);
	}
	if (json_is_boolean(old)) {
		if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0)
			return json_true();
		if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0)
			return json_false();
		snprintf(err, errlen, "\"%.64s\" is not true or false", s);
		return NULL;
	}
	return json_deep_copy(value);
}

static json_t *
find_resource(json_t *resources, const char *type, const char *id)
{
	json_t		*r;
	size_t		 i;
	const char	*rt;

	json_array_foreach(resources, i, r) {
		if (!json_is_object(r) || !json_is_string(json_object_get(r,
		    "id")) || strcmp(json_string_value(json_object_get(r, "id")),
		    id) != 0)
			continue;
		rt = json_string_value(json_object_get(r, "type"));
		if (rt == NULL && json_object_get(r, "type") == NULL)
			rt = "audit";
		if (rt != NULL && strcmp(rt, type) == 0)
			return r;
	}
	return NULL;
}

/*
 * Is name one of the document's "parameters"?  The assignment's values
 * come from the cloud, unsigned: only what the signed document lets them
 * set may be set (without that, a parameter could point a file resource's
 * path and content, or a command's argv, anywhere).
 */
static int
param_declared(const json_t *declared, const char *name)
{
	const json_t	*d;
	size_t		 i;

	json_array_foreach(declared, i, d)
		if (strcmp(json_string_value(d), name) == 0)
			return 1;
	return 0;
}

/* The document's "parameters": absent, or strings "[type]id;property". */
static int
params_declared_ok(const json_t *declared, char *err, size_t errlen)
{
	const json_t	*d;
	char		*copy, *type, *id, *prop;
	size_t		 i;
	int		 ok;

	if (declared == NULL)
		return 0;
	if (!json_is_array(declared) || json_array_size(declared) >
	    GC_PARAMS_MAX)
		goto bad;
	json_array_foreach(declared, i, d) {
		if (!json_is_string(d) || strlen(json_string_value(d)) !=
		    json_string_length(d) ||
		    (copy = strdup(json_string_value(d))) == NULL)
			goto bad;
		ok = param_split(copy, &type, &id, &prop) == 0;
		free(copy);
		if (!ok)
			goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "parameters: expected an array of at most %d "
	    "strings \"[type]id;property\"", GC_PARAMS_MAX);
	return -1;
}

static int
apply_params(json_t *resources, const json_t *declared, const json_t *params,
    char *err, size_t errlen)
{
	json_t		*p, *r, *props, *v;
	char		*name = NULL, *type, *id, *prop, why[256];
	size_t		 i;

	if (params == NULL || json_is_null(params))
		return 0;
	if (!json_is_array(params) || json_array_size(params) >
	    GC_PARAMS_MAX) {
		snprintf(err, errlen, "configurationParameter: expected an "
		    "array of {name, value}");
		return -1;
	}
	json_array_foreach(params, i, p) {
		if (!json_is_string(json_object_get(p, "name")) ||
		    json_object_get(p, "value") == NULL) {
			snprintf(err, errlen, "configurationParameter %zu: "
			    "expected {name, value}", i);
			return -1;
		}
		if ((name = strdup(json_string_value(json_object_get(p,
		    "name")))) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (param_split(name, &type, &id, &prop) == -1) {
			snprintf(err, errlen, "configurationParameter \"%.128s\""
			    ": expected \"[type]id;property\"",
			    json_string_value(json_object_get(p, "name")));
			goto fail;
		}
		if ((r = find_resource(resources, type, id)) == NULL) {
			snprintf(err, errlen, "configurationParameter \"%.128s\""
			    ": no resource [%.64s]%.128s in the document",
			    json_string_value(json_object_get(p, "name")),
			    type, id);
			goto fail;
		}
		if (!param_declared(declared, json_string_value(
		    json_object_get(p, "name")))) {
			snprintf(err, errlen, "configurationParameter \"%.128s\""
			    ": not one of the document's \"parameters\" (only "
			    "those may be set by an assignment)",
			    json_string_value(json_object_get(p, "name")));
			goto fail;
		}
		if ((props = json_object_get(r, "properties")) == NULL) {
			props = json_object();
			if (props == NULL || json_object_set_new(r,
			    "properties", props) == -1) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
		}
		if (!json_is_object(props)) {
			/* the resource fails alone on its properties */
			free(name);
			name = NULL;
			continue;
		}
		if ((v = param_value(json_object_get(p, "value"),
		    json_object_get(props, prop), why, sizeof(why))) == NULL) {
			snprintf(err, errlen, "configurationParameter \"%.128s\""
			    ": %s", json_string_value(json_object_get(p,
			    "name")), why);
			goto fail;
		}
		if (json_object_set_new(props, prop, v) == -1) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		free(name);
		name = NULL;
	}
	return 0;
fail:
	free(name);
	return -1;
}

static int
set_invalid(struct gc_res *r, const char *code, const char *why)
{
	r->invalid_code = code;
	if ((r->invalid = strdup(why)) == NULL)
		return -1;
	return 0;
}

/* One resource; 0 even when it is bad (r->invalid says why), -1 on a
 * duplicate id or no memory. */
static int
res_parse(struct gc_res *r, const json_t *j, size_t index, char *err,
    size_t errlen)
{
	static const char *const	 keys[] = { "id", "type", "properties",
	    "audit", "description", NULL };
	const char			*code, *id, *type;
	char				 why[768], buf[GC_ID_MAX + 80];
	json_t				*jid, *jtype, *props, *audit, *desc;
	int				 nodes = 0;

	jid = json_object_get(j, "id");
	id = json_string_value(jid);
	if (id != NULL && valid_id(id))
		r->id = strdup(id);
	else {
		snprintf(buf, sizeof(buf), "#%zu", index);
		r->id = strdup(buf);
	}
	jtype = json_object_get(j, "type");
	type = jtype == NULL ? "audit" : json_string_value(jtype);
	if (type == NULL || strlen(type) > 64 || (jtype != NULL &&
	    gc_type_find(type) == NULL && !valid_id(type)))
		type = "invalid";
	r->typename = strdup(type);
	snprintf(buf, sizeof(buf), "[%s]%s", type, r->id ? r->id : "");
	r->resource_id = strdup(buf);
	if (r->id == NULL || r->typename == NULL || r->resource_id == NULL)
		goto oom;
	if (!json_is_object(j))
		return set_invalid(r, "GC::RESOURCE::INVALID",
		    "a resource is an object");
	if (id == NULL || !valid_id(id))
		return set_invalid(r, "GC::RESOURCE::INVALID", "id: expected "
		    "1 to 128 of [A-Za-z0-9_.-]");
	if (gc_props_only(j, keys, why, sizeof(why)) == -1)
		return set_invalid(r, "GC::RESOURCE::INVALID", why);
	desc = json_object_get(j, "description");
	if (desc != NULL && !json_is_string(desc))
		return set_invalid(r, "GC::RESOURCE::INVALID",
		    "description: expected a string");
	props = json_object_get(j, "properties");
	audit = json_object_get(j, "audit");
	if (jtype != NULL && !json_is_string(jtype))
		return set_invalid(r, "GC::RESOURCE::INVALID",
		    "type: expected a string");
	if (jtype == NULL && (audit == NULL || props != NULL))
		return set_invalid(r, "GC::RESOURCE::INVALID", "type is "
		    "missing (only a resource with an audit condition and no "
		    "properties may omit it)");
	if (jtype != NULL && check_parse(&r->check, type, props, &code, why,
	    sizeof(why)) == -1)
		return set_invalid(r, code, why);
	if (audit != NULL && (r->audit = cond_parse(audit, 0, &nodes, &code,
	    why, sizeof(why))) == NULL)
		return set_invalid(r, code, why);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

struct gc_doc *
gc_doc_parse(const char *json, size_t len, const json_t *params, char *err,
    size_t errlen)
{
	static const char *const	 keys[] = { "schemaVersion", "name",
	    "version", "description", "parameters", "resources", NULL };
	struct gc_doc			*doc = NULL;
	json_error_t			 jerr;
	json_t				*root = NULL, *resources, *r, *v;
	json_t				*seen = NULL;
	const char			*name, *id;
	size_t				 i;
	char				 why[256];

	if (len > GC_DOC_MAX_SIZE) {
		snprintf(err, errlen, "document larger than %d bytes",
		    GC_DOC_MAX_SIZE);
		return NULL;
	}
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "not JSON: line %d: %s", jerr.line,
		    jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the document is not a JSON object");
		goto fail;
	}
	v = json_object_get(root, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		snprintf(err, errlen, "schemaVersion: expected 1");
		goto fail;
	}
	if (gc_props_only(root, keys, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "the document: %s", why);
		goto fail;
	}
	name = json_string_value(json_object_get(root, "name"));
	if (name == NULL || name[0] == '\0' || strlen(name) > GC_NAME_MAX ||
	    strlen(name) != json_string_length(json_object_get(root, "name"))) {
		snprintf(err, errlen, "name: expected a string of 1 to %d "
		    "characters", GC_NAME_MAX);
		goto fail;
	}
	if (((v = json_object_get(root, "version")) != NULL &&
	    !json_is_string(v)) || ((v = json_object_get(root,
	    "description")) != NULL && !json_is_string(v))) {
		snprintf(err, errlen, "version and description: expected "
		    "strings");
		goto fail;
	}
	resources = json_object_get(root, "resources");
	if (!json_is_array(resources) || json_array_size(resources) >
	    GC_DOC_MAX_RESOURCES) {
		snprintf(err, errlen, "resources: expected an array of at most "
		    "%d", GC_DOC_MAX_RESOURCES);
		goto fail;
	}
	/* Ids are what parameters and reports name: each once. */
	if ((seen = json_object()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_array_foreach(resources, i, r) {
		if ((id = json_string_value(json_object_get(r, "id"))) == NULL)
			continue;
		if (json_object_get(seen, id) != NULL) {
			snprintf(err, errlen, "resource id \"%.128s\" is used "
			    "twice", id);
			goto fail;
		}
		json_object_set(seen, id, json_null());
	}
	if (params_declared_ok(json_object_get(root, "parameters"), err,
	    errlen) == -1 || apply_params(resources, json_object_get(root,
	    "parameters"), params, err, errlen) == -1)
		goto fail;
	if ((doc = calloc(1, sizeof(*doc))) == NULL ||
	    (doc->name = strdup(name)) == NULL || (doc->res = calloc(
	    json_array_size(resources) + 1, sizeof(*doc->res))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	json_array_foreach(resources, i, r) {
		doc->nres++;
		if (res_parse(&doc->res[i], r, i, err, errlen) == -1)
			goto fail;
		if (doc->res[i].invalid != NULL)
			doc->ninvalid++;
	}
	json_decref(seen);
	json_decref(root);
	return doc;
fail:
	gc_doc_free(doc);
	json_decref(seen);
	json_decref(root);
	return NULL;
}

void
gc_doc_free(struct gc_doc *doc)
{
	size_t	 i;

	if (doc == NULL)
		return;
	for (i = 0; i < doc->nres; i++) {
		free(doc->res[i].id);
		free(doc->res[i].resource_id);
		free(doc->res[i].typename);
		free(doc->res[i].invalid);
		check_free(&doc->res[i].check);
		cond_free(doc->res[i].audit);
	}
	free(doc->res);
	free(doc->name);
	free(doc);
}

const char *
gc_doc_name(const struct gc_doc *doc)
{
	return doc->name;
}

size_t
gc_doc_count(const struct gc_doc *doc)
{
	return doc->nres;
}

size_t
gc_doc_invalid(const struct gc_doc *doc)
{
	return doc->ninvalid;
}
