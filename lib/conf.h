/* conf.h -- typed, checked access to libconfig files; every error names file, line and what was expected. */
#ifndef CONF_H
#define CONF_H

#include <libconfig.h>
#include <stddef.h>

struct conf_error {
	char	text[512];		/* "file:line: what was expected" */
};

/*
 * Each getter leaves *out alone when the key is absent (so the caller's
 * default stands), fills it when the value is good, and returns -1 with
 * err filled when the value has the wrong type or range.
 */
#define CONF_MAX_BYTES	(4 << 20)	/* a settings file larger is refused */

/* A regular file of at most CONF_MAX_BYTES; for a root process, root's and
 * writable by no one else (a refusal names the file and why).  What is
 * read is the fd those checks were made on; errors name path and line (or
 * an @include's own file), as config_read_file() would. */
int	conf_read(config_t *cfg, const char *path, struct conf_error *err);
/* conf_read(), but a missing file reads as an empty one (every key takes its
 * default) and *found says which it was. */
int	conf_read_optional(config_t *cfg, const char *path, int *found,
	    struct conf_error *err);
/* <dir>/<name> read by conf_read_optional(), then handed to read(arg, cfg,
 * err): *path (the caller's to free, even after an error) and *found say
 * what was read.  0, or -1 with errbuf filled. */
typedef int conf_reader(void *arg, config_t *cfg, struct conf_error *err);
int	conf_load_file(const char *dir, const char *name, char **path,
	    int *found, conf_reader *read, void *arg, char *errbuf,
	    size_t errlen);
int	conf_check_keys(const config_setting_t *group,
	    const char *const *allowed, struct conf_error *err);
int	conf_int(const config_setting_t *group, const char *key,
	    long long min, long long max, long long *out, struct conf_error *err);
int	conf_bool(const config_setting_t *group, const char *key, int *out,
	    struct conf_error *err);
int	conf_string(const config_setting_t *group, const char *key,
	    const char **out, struct conf_error *err);
int	conf_enum(const config_setting_t *group, const char *key,
	    const char *const *names, int *out, struct conf_error *err);
/* A list or array of strings: *out is the setting, or NULL when absent
 * (unlike the scalar getters, which leave *out alone). */
int	conf_string_list(const config_setting_t *group, const char *key,
	    const config_setting_t **out, struct conf_error *err);
/* A list of groups: *out is the setting, or NULL when absent. */
int	conf_group_list(const config_setting_t *group, const char *key,
	    const config_setting_t **out, struct conf_error *err);
/*
 * A `hosts` list of root, ( { name = "..."; <value_key> = "..."; }, ... ), as
 * arcproxy.conf and cloudsim.conf write it: each entry has only keys, and
 * both strings.  The table is n zeroed elements of size bytes; fill(arg,
 * table, i, entry, name, value, err) stores entry i (the table is the
 * caller's from its first call on), after *n has counted it, so that the
 * caller's cleanup frees what fill stored even when it fails.  0 when good
 * or absent, -1 with err filled.
 */
typedef int conf_host_fill(void *arg, void *table, int i,
	    const config_setting_t *entry, const char *name, const char *value,
	    struct conf_error *err);
int	conf_hosts(const config_setting_t *root, const char *const *keys,
	    const char *value_key, const char *value_hint, size_t size, int *n,
	    conf_host_fill *fill, void *arg, struct conf_error *err);
int	conf_fail(struct conf_error *err, const config_setting_t *where,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
