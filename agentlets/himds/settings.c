/* settings.c -- himds.conf: where himds listens, how it reaches the cloud, its timers and its token key directory. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "defaults.h"
#include "settings.h"
#include "url.h"

static const char *const settings_keys[] = {
	"listen", "proxy", "heartbeat_interval_seconds", "token_key_dir",
	"token_key_lifetime_seconds", "cloud_timeout_seconds", "arcproxy_admin",
	NULL
};
static const char *const settings_default_listen[] = {
	ARC_LISTEN_HIMDS, ARC_LISTEN_HIMDS6, NULL
};

static int
settings_listen(struct himds_settings *s, const config_setting_t *root,
    struct conf_error *err)
{
	const config_setting_t	*list = NULL, *e;
	int			 i;

	if (conf_string_list(root, "listen", &list, err) == -1)
		return -1;
	if (list == NULL) {
		for (i = 0; settings_default_listen[i] != NULL; i++)
			addr_parse(settings_default_listen[i], &s->listen[i],
			    &s->listen_len[i]);
		s->nlisten = i;
		return 0;
	}
	for (i = 0; (e = config_setting_get_elem(list, i)) != NULL; i++) {
		if (i == HIMDS_MAX_LISTEN)
			return conf_fail(err, e, "at most %d listen addresses",
			    HIMDS_MAX_LISTEN);
		if (addr_parse(config_setting_get_string(e), &s->listen[i],
		    &s->listen_len[i]) == -1)
			return conf_fail(err, e, "listen: \"%s\" is not an "
			    "address like \"127.0.0.1:40342\" or \"[::1]:40342\"",
			    config_setting_get_string(e));
	}
	if (i == 0)
		return conf_fail(err, list, "listen: at least one address");
	s->nlisten = i;
	return 0;
}

/* What settings_read() reads into, and where a relative token_key_dir is. */
struct settings_reading {
	struct himds_settings	*s;
	const char		*run_dir;
};

static int
settings_read(void *arg, config_t *lc, struct conf_error *err)
{
	struct settings_reading	*r = arg;
	struct himds_settings	*s = r->s;
	const config_setting_t	*root;
	const char		*proxy = ARC_URL_PROXY;
	const char		*dir = ARC_SUBDIR_TOKENS;
	const char		*admin = ARC_LISTEN_ADMIN;
	const char		*why;
	char			 host[256], path[PATH_MAX];
	uint16_t		 port;

	root = config_root_setting(lc);
	if (conf_check_keys(root, settings_keys, err) == -1 ||
	    settings_listen(s, root, err) == -1 ||
	    conf_string(root, "proxy", &proxy, err) == -1 ||
	    conf_int(root, "heartbeat_interval_seconds", 0, 86400,
	    &s->heartbeat_interval_seconds, err) == -1 ||
	    conf_string(root, "token_key_dir", &dir, err) == -1 ||
	    conf_int(root, "token_key_lifetime_seconds", 1, 3600,
	    &s->token_key_lifetime_seconds, err) == -1 ||
	    conf_int(root, "cloud_timeout_seconds", 1, 600,
	    &s->cloud_timeout_seconds, err) == -1 ||
	    conf_string(root, "arcproxy_admin", &admin, err) == -1)
		return -1;
	if (admin[0] != '\0' && addr_parse(admin, &s->arcproxy_admin,
	    &s->arcproxy_admin_len) == -1)
		return conf_fail(err, config_setting_get_member(root,
		    "arcproxy_admin"), "arcproxy_admin: \"%s\" is not an address "
		    "like \"127.0.0.1:40344\" (or \"\": tell nobody)", admin);
	if (url_parse_local_proxy(proxy, host, sizeof(host), &port, &why) == -1)
		return conf_fail(err, config_setting_get_member(root, "proxy"),
		    "proxy: \"%s\" %s", proxy, why);
	if (dir[0] == '\0')
		return conf_fail(err, config_setting_get_member(root,
		    "token_key_dir"), "token_key_dir: a directory, not \"\"");
	/* The realm is parsed with split("="): no '=' in the path. */
	if (strchr(dir, '=') != NULL)
		return conf_fail(err, config_setting_get_member(root,
		    "token_key_dir"), "token_key_dir: \"%s\" must not "
		    "contain '='", dir);
	if (dir[0] == '/')
		snprintf(path, sizeof(path), "%s", dir);
	else
		snprintf(path, sizeof(path), "%s/%s", r->run_dir, dir);
	if ((s->proxy = strdup(proxy)) == NULL ||
	    (s->token_key_dir = strdup(path)) == NULL)
		return conf_fail(err, root, "out of memory");
	return 0;
}

int
himds_settings_load(const char *config_dir, const char *run_dir,
    struct himds_settings *s, char *errbuf, size_t errlen)
{
	struct settings_reading	r = { s, run_dir };

	memset(s, 0, sizeof(*s));
	s->token_key_lifetime_seconds = 60;
	s->cloud_timeout_seconds = 30;
	if (conf_load_file(config_dir, ARC_FILE_HIMDS_CONF, &s->path, &s->found,
	    settings_read, &r, errbuf, errlen) == -1) {
		himds_settings_clear(s);
		return -1;
	}
	return 0;
}

void
himds_settings_clear(struct himds_settings *s)
{
	free(s->path);
	free(s->proxy);
	free(s->token_key_dir);
	memset(s, 0, sizeof(*s));
}
