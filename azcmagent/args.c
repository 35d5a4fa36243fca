/* args.c -- the command line as azcmagent reads it: long and short options anywhere, positionals, and the values that connect checks (tags, names). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "strtrim.h"

#define ARGS_TAG_KEY_MAX	512
#define ARGS_TAG_VALUE_MAX	256

static int
args_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
args_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int
args_index(const struct args_opt *table, const char *name)
{
	int	i;

	for (i = 0; table[i].name != NULL; i++)
		if (strcmp(table[i].name, name) == 0)
			return i;
	return -1;
}

static int
args_short_index(const struct args_opt *table, char c)
{
	int	i;

	for (i = 0; table[i].name != NULL; i++)
		if (table[i].short_name == c)
			return i;
	return -1;
}

/* One "--name", "--name=value" or "--name value"; returns how many words it took. */
static int
args_long(int argc, char *const argv[], int at, const struct args_opt *table,
    struct args *a, char *err, size_t errlen)
{
	const char	*word = argv[at] + 2, *eq;
	char		 name[64];
	size_t		 len;
	int		 i;

	eq = strchr(word, '=');
	len = eq != NULL ? (size_t)(eq - word) : strlen(word);
	if (len >= sizeof(name))
		return args_fail(err, errlen, "unknown option '%s'", argv[at]);
	memcpy(name, word, len);
	name[len] = '\0';
	if ((i = args_index(table, name)) == -1)
		return args_fail(err, errlen, "unknown option '--%s'", name);
	if (table[i].kind == ARGS_FLAG) {
		if (eq != NULL)
			return args_fail(err, errlen, "option '--%s' takes no value",
			    name);
		a->value[i] = "";
		return 1;
	}
	if (eq != NULL) {
		a->value[i] = eq + 1;
		return 1;
	}
	if (at + 1 >= argc)
		return args_fail(err, errlen, "option '--%s' needs a value", name);
	a->value[i] = argv[at + 1];
	return 2;
}

/* "-j", "-jv" (flags together), "-o FILE" or "-oFILE". */
static int
args_short(int argc, char *const argv[], int at, const struct args_opt *table,
    struct args *a, char *err, size_t errlen)
{
	const char	*p;
	int		 i;

	for (p = argv[at] + 1; *p != '\0'; p++) {
		if ((i = args_short_index(table, *p)) == -1)
			return args_fail(err, errlen, "unknown option '-%c'", *p);
		if (table[i].kind == ARGS_FLAG) {
			a->value[i] = "";
			continue;
		}
		if (p[1] != '\0') {
			a->value[i] = p + 1;
			return 1;
		}
		if (at + 1 >= argc)
			return args_fail(err, errlen, "option '-%c' needs a value", *p);
		a->value[i] = argv[at + 1];
		return 2;
	}
	return 1;
}

int
args_parse(int argc, char *const argv[], const struct args_opt *table,
    struct args *a, char *err, size_t errlen)
{
	int	at, n, rest = 0;

	memset(a, 0, sizeof(*a));
	for (n = 0; table[n].name != NULL; n++)
		;
	if (n > ARGS_MAX_OPTS)
		return args_fail(err, errlen, "too many options in the table");
	for (at = 1; at < argc; at += n) {
		const char *w = argv[at];

		n = 1;
		if (!rest && strcmp(w, "--") == 0) {
			rest = 1;
			continue;
		}
		if (!rest && w[0] == '-' && w[1] == '-')
			n = args_long(argc, argv, at, table, a, err, errlen);
		else if (!rest && w[0] == '-' && w[1] != '\0')
			n = args_short(argc, argv, at, table, a, err, errlen);
		else if (a->npos == ARGS_MAX_POS)
			return args_fail(err, errlen, "too many arguments ('%s')", w);
		else
			a->pos[a->npos++] = w;
		if (n == -1)
			return -1;
	}
	return 0;
}

void
args_tags_clear(struct args_tags *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

int
args_tags_parse(const char *text, struct args_tags *t, char *err, size_t errlen)
{
	char	*item, *save = NULL, *eq, *key, *value;
	int	 i;

	memset(t, 0, sizeof(*t));
	if ((t->buf = strdup(text)) == NULL)
		return args_fail(err, errlen, "out of memory");
	for (item = strtok_r(t->buf, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		if ((eq = strchr(item, '=')) == NULL) {
			args_fail(err, errlen, "tag \"%s\" is not key=value",
			    strtrim(item));
			goto fail;
		}
		*eq = '\0';
		key = strtrim(item);
		value = strtrim(eq + 1);
		if (key[0] == '\0' || strlen(key) > ARGS_TAG_KEY_MAX ||
		    strpbrk(key, "<>%&\\?/") != NULL) {
			args_fail(err, errlen, "tag key \"%s\": 1-%d characters, "
			    "none of <>%%&\\?/", key, ARGS_TAG_KEY_MAX);
			goto fail;
		}
		if (strlen(value) > ARGS_TAG_VALUE_MAX) {
			args_fail(err, errlen, "tag %s: the value is longer than "
			    "%d characters", key, ARGS_TAG_VALUE_MAX);
			goto fail;
		}
		for (i = 0; i < t->n; i++)
			if (strcasecmp(t->tag[i].key, key) == 0) {
				args_fail(err, errlen, "tag key \"%s\" given twice", key);
				goto fail;
			}
		if (t->n == ARGS_MAX_TAGS) {
			args_fail(err, errlen, "more than %d tags", ARGS_MAX_TAGS);
			goto fail;
		}
		t->tag[t->n].key = key;
		t->tag[t->n].value = value;
		t->n++;
	}
	if (t->n == 0) {
		args_fail(err, errlen, "no tags in \"%s\" (want key=value,key2=value2)",
		    text);
		goto fail;
	}
	return 0;
 fail:
	args_tags_clear(t);
	return -1;
}

int
args_name_ok(const char *name)
{
	size_t	i;

	if (!isalnum((unsigned char)name[0]))
		return 0;
	for (i = 1; name[i] != '\0'; i++)
		if (i > 62 || (!isalnum((unsigned char)name[i]) &&
		    strchr("-_.", name[i]) == NULL))
			return 0;
	return 1;
}

int
args_location_ok(const char *location)
{
	size_t	i;

	for (i = 0; location[i] != '\0'; i++)
		if (i >= 64 || !isalnum((unsigned char)location[i]))
			return 0;
	return i > 0;
}
