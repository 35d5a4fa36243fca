/* conf.c -- typed, checked access to libconfig files; every error names file, line and what was expected. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* The file a setting came from.  libconfig names only the files it opened
 * itself (an @include, which root never reads); what conf_read() read from
 * its checked fd has no name there, so the path rides as the root setting's
 * hook. */
static const char *
conf_source_file(const config_setting_t *where)
{
	const char	*file;

	if (where == NULL)
		return NULL;
	if ((file = config_setting_source_file(where)) != NULL)
		return file;
	if (where->config == NULL || where->config->root == NULL)
		return NULL;
	return config_setting_get_hook(where->config->root);
}

/* The path as the root's hook, freed with the config (its destructor). */
static int
conf_name(config_t *cfg, const char *path, struct conf_error *err)
{
	char	*copy;

	if ((copy = strdup(path)) == NULL) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		return -1;
	}
	config_set_destructor(cfg, free);
	config_setting_set_hook(config_root_setting(cfg), copy);
	return 0;
}

int
conf_fail(struct conf_error *err, const config_setting_t *where,
    const char *fmt, ...)
{
	const char	*file;
	va_list		 ap;
	int		 n;

	file = conf_source_file(where);
	n = snprintf(err->text, sizeof(err->text), "%s:%u: ",
	    file ? file : "(config)", config_setting_source_line(where));
	if (n < 0 || (size_t)n >= sizeof(err->text))
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->text + n, sizeof(err->text) - n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * The file at path, opened, if it is one to read settings from: a regular
 * file (a FIFO would block the daemon for good, a device feed it without
 * end), of at most CONF_MAX_BYTES, and for a root process one that only
 * root can change: root's, not writable by everyone nor by a group other
 * than root's.  The fd (what is read is what was checked), or -1 with err.
 */
static int
conf_open(const char *path, struct conf_error *err)
{
	struct stat	st;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err->text, sizeof(err->text), "%s: cannot read: %s",
		    path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		snprintf(err->text, sizeof(err->text), "%s: not a regular file",
		    path);
	else if (st.st_size > CONF_MAX_BYTES)
		snprintf(err->text, sizeof(err->text), "%s: larger than %d bytes",
		    path, CONF_MAX_BYTES);
	else if (geteuid() == 0 && st.st_uid != 0)
		snprintf(err->text, sizeof(err->text), "%s: owned by uid %u, not "
		    "root: a root process reads only settings that root alone "
		    "can change", path, (unsigned)st.st_uid);
	else if (geteuid() == 0 && ((st.st_mode & S_IWOTH) ||
	    ((st.st_mode & S_IWGRP) && st.st_gid != 0)))
		snprintf(err->text, sizeof(err->text), "%s: writable by %s (mode "
		    "%04o): a root process reads only settings that root alone "
		    "can change", path, (st.st_mode & S_IWOTH) ? "everyone" :
		    "its group", (unsigned)(st.st_mode & 07777));
	else
		return fd;
	close(fd);
	return -1;
}

/* The line of the first @include (as libconfig's scanner sees one: at a
 * line's start after blanks), 0 when there is none; f is rewound. */
static int
conf_include_line(FILE *f)
{
	char	*line = NULL;
	size_t	 cap = 0, i;
	int	 n = 0, found = 0;

	while (!found && getline(&line, &cap, f) != -1) {
		n++;
		for (i = 0; line[i] == ' ' || line[i] == '\t'; i++)
			;
		found = strncmp(line + i, "@include", 8) == 0;
	}
	free(line);
	rewind(f);
	return found ? n : 0;
}

int
conf_read(config_t *cfg, const char *path, struct conf_error *err)
{
	FILE	*f;
	int	 fd, ok, line;

	if ((fd = conf_open(path, err)) == -1)
		return -1;
	/* Regular, so O_NONBLOCK changes nothing for the reads. */
	if ((f = fdopen(fd, "r")) == NULL) {
		snprintf(err->text, sizeof(err->text), "%s: cannot read: %s",
		    path, strerror(errno));
		close(fd);
		return -1;
	}
	/* libconfig opens an @include'd file by path, with none of the checks
	 * above: root reads settings from the checked file alone. */
	if (geteuid() == 0 && (line = conf_include_line(f)) > 0) {
		snprintf(err->text, sizeof(err->text), "%s:%d: @include in "
		    "settings read by root: libconfig would open that file "
		    "unchecked; put its settings in this file", path, line);
		fclose(f);
		return -1;
	}
	errno = 0;
	ok = config_read(cfg, f) == CONFIG_TRUE;
	fclose(f);
	if (ok)
		return conf_name(cfg, path, err);
	/* Named as config_read_file() named them: the file and line (an
	 * @include's own file when the error is in it). */
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
		snprintf(err->text, sizeof(err->text), "%s: cannot read: %s",
		    config_error_file(cfg) ? config_error_file(cfg) : path,
		    strerror(errno));
	else
		snprintf(err->text, sizeof(err->text), "%s:%d: %s",
		    config_error_file(cfg) ? config_error_file(cfg) : path,
		    config_error_line(cfg), config_error_text(cfg));
	return -1;
}

int
conf_read_optional(config_t *cfg, const char *path, int *found,
    struct conf_error *err)
{
	*found = 0;
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		/* No file: an empty one, so every key takes its default. */
		if (config_read_string(cfg, "") == CONFIG_TRUE)
			return 0;
		snprintf(err->text, sizeof(err->text), "out of memory");
		return -1;
	}
	if (conf_read(cfg, path, err) == -1)
		return -1;
	*found = 1;
	return 0;
}

int
conf_load_file(const char *dir, const char *name, char **path, int *found,
    conf_reader *read, void *arg, char *errbuf, size_t errlen)
{
	config_t		cfg;
	struct conf_error	err;
	int			rc = -1;

	err.text[0] = '\0';
	config_init(&cfg);
	if (asprintf(path, "%s/%s", dir, name) == -1) {
		*path = NULL;
		snprintf(err.text, sizeof(err.text), "out of memory");
	} else if (conf_read_optional(&cfg, *path, found, &err) == 0 &&
	    read(arg, &cfg, &err) == 0)
		rc = 0;
	if (rc == -1)
		snprintf(errbuf, errlen, "%s", err.text);
	config_destroy(&cfg);
	return rc;
}

int
conf_check_keys(const config_setting_t *group, const char *const *allowed,
    struct conf_error *err)
{
	const config_setting_t	*s;
	char			 list[256];
	size_t			 len = 0;
	int			 i, k;

	for (i = 0; (s = config_setting_get_elem(group, i)) != NULL; i++) {
		const char *name = config_setting_name(s);

		for (k = 0; allowed[k] != NULL; k++)
			if (name != NULL && strcmp(name, allowed[k]) == 0)
				break;
		if (allowed[k] != NULL)
			continue;
		list[0] = '\0';
		for (k = 0; allowed[k] != NULL && len < sizeof(list); k++) {
			int n = snprintf(list + len, sizeof(list) - len, "%s%s",
			    k ? ", " : "", allowed[k]);
			if (n < 0)
				break;
			len += n;
		}
		return conf_fail(err, s, "unknown key '%s' (expected one of: %s)",
		    name ? name : "?", list);
	}
	return 0;
}

int
conf_int(const config_setting_t *group, const char *key, long long min,
    long long max, long long *out, struct conf_error *err)
{
	const config_setting_t	*s;
	long long		 v;

	if ((s = config_setting_get_member(group, key)) == NULL)
		return 0;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		break;
	default:
		return conf_fail(err, s, "'%s' must be an integer", key);
	}
	if (v < min || v > max)
		return conf_fail(err, s, "'%s' must be between %lld and %lld",
		    key, min, max);
	*out = v;
	return 0;
}

int
conf_bool(const config_setting_t *group, const char *key, int *out,
    struct conf_error *err)
{
	const config_setting_t	*s;

	if ((s = config_setting_get_member(group, key)) == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return conf_fail(err, s, "'%s' must be true or false", key);
	*out = config_setting_get_bool(s);
	return 0;
}

int
conf_string(const config_setting_t *group, const char *key, const char **out,
    struct conf_error *err)
{
	const config_setting_t	*s;

	if ((s = config_setting_get_member(group, key)) == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_fail(err, s, "'%s' must be a string in double quotes",
		    key);
	*out = config_setting_get_string(s);
	return 0;
}

int
conf_enum(const config_setting_t *group, const char *key,
    const char *const *names, int *out, struct conf_error *err)
{
	const char	*v = NULL;
	char		 list[256];
	size_t		 len = 0;
	int		 i;

	if (conf_string(group, key, &v, err) == -1)
		return -1;
	if (v == NULL)
		return 0;
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	list[0] = '\0';
	for (i = 0; names[i] != NULL && len < sizeof(list); i++) {
		int n = snprintf(list + len, sizeof(list) - len, "%s\"%s\"",
		    i ? ", " : "", names[i]);
		if (n < 0)
			break;
		len += n;
	}
	return conf_fail(err, config_setting_get_member(group, key),
	    "'%s' is \"%s\" (expected one of: %s)", key, v, list);
}

int
conf_string_list(const config_setting_t *group, const char *key,
    const config_setting_t **out, struct conf_error *err)
{
	const config_setting_t	*s, *e;
	int			 i;

	*out = NULL;
	if ((s = config_setting_get_member(group, key)) == NULL)
		return 0;
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
		return conf_fail(err, s, "'%s' must be a list of strings, "
		    "like [ \"a\", \"b\" ]", key);
	for (i = 0; (e = config_setting_get_elem(s, i)) != NULL; i++)
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return conf_fail(err, e, "'%s' element %d must be a "
			    "string", key, i + 1);
	*out = s;
	return 0;
}

int
conf_group_list(const config_setting_t *group, const char *key,
    const config_setting_t **out, struct conf_error *err)
{
	const config_setting_t	*s, *e;
	int			 i;

	*out = NULL;
	if ((s = config_setting_get_member(group, key)) == NULL)
		return 0;
	if (!config_setting_is_list(s))
		return conf_fail(err, s, "'%s' must be a list of groups, "
		    "like ( { ... }, { ... } )", key);
	for (i = 0; (e = config_setting_get_elem(s, i)) != NULL; i++)
		if (!config_setting_is_group(e))
			return conf_fail(err, e, "'%s' element %d must be a "
			    "group { ... }", key, i + 1);
	*out = s;
	return 0;
}

int
conf_hosts(const config_setting_t *root, const char *const *keys,
    const char *value_key, const char *value_hint, size_t size, int *n,
    conf_host_fill *fill, void *arg, struct conf_error *err)
{
	const config_setting_t	*list = NULL, *e;
	const char		*name, *value;
	void			*table;
	int			 i, len;

	if (conf_group_list(root, "hosts", &list, err) == -1)
		return -1;
	if (list == NULL || (len = config_setting_length(list)) == 0)
		return 0;
	if ((table = calloc(len, size)) == NULL)
		return conf_fail(err, list, "out of memory");
	for (i = 0; i < len; i++) {
		e = config_setting_get_elem(list, i);
		name = value = NULL;
		if (conf_check_keys(e, keys, err) == -1 ||
		    conf_string(e, "name", &name, err) == -1 ||
		    conf_string(e, value_key, &value, err) == -1)
			goto fail;
		if (name == NULL || value == NULL) {
			conf_fail(err, e, "a host needs name = \"...\" and "
			    "%s = \"%s\"", value_key, value_hint);
			goto fail;
		}
		(*n)++;
		if (fill(arg, table, i, e, name, value, err) == -1)
			return -1;
	}
	return 0;
fail:
	if (i == 0)
		free(table);		/* fill never took it */
	return -1;
}
