/* gcsettings.c -- guestconfig.conf: how guestconfig reaches the cloud, how often it polls and evaluates, whom it trusts for packages. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "defaults.h"
#include "gcsettings.h"
#include "url.h"

#define GC_FILE_CONF	"guestconfig.conf"

static const char *const settings_keys[] = {
	"proxy", "poll_seconds", "evaluation_seconds", "publisher",
	"packages_ca", "backups", "cloud_timeout_seconds",
	"command_timeout_seconds", NULL
};

static int
settings_publisher_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.')
			return 0;
	return i > 0 && i < 128;
}

/* What settings_read() reads into, and where a relative packages_ca is. */
struct settings_reading {
	struct gc_settings	*s;
	const char		*config_dir;
};

static int
settings_read(void *arg, config_t *lc, struct conf_error *err)
{
	struct settings_reading	*r = arg;
	struct gc_settings	*s = r->s;
	const config_setting_t	*root;
	const char		*proxy = ARC_URL_PROXY;
	const char		*publisher = GC_DEFAULT_PUBLISHER;
	const char		*ca = GC_DEFAULT_PACKAGES_CA;
	const char		*why;
	char			 host[256], path[PATH_MAX];
	uint16_t		 port;

	root = config_root_setting(lc);
	if (conf_check_keys(root, settings_keys, err) == -1 ||
	    conf_string(root, "proxy", &proxy, err) == -1 ||
	    conf_int(root, "poll_seconds", 1, 86400, &s->poll_seconds,
	    err) == -1 ||
	    conf_int(root, "evaluation_seconds", 0, 86400,
	    &s->evaluation_seconds, err) == -1 ||
	    conf_string(root, "publisher", &publisher, err) == -1 ||
	    conf_string(root, "packages_ca", &ca, err) == -1 ||
	    conf_int(root, "backups", 0, 100000, &s->backups, err) == -1 ||
	    conf_int(root, "cloud_timeout_seconds", 1, 600,
	    &s->cloud_timeout_seconds, err) == -1 ||
	    conf_int(root, "command_timeout_seconds", 1, 3600,
	    &s->command_timeout_seconds, err) == -1)
		return -1;
	if (url_parse_local_proxy(proxy, host, sizeof(host), &port, &why) == -1)
		return conf_fail(err, config_setting_get_member(root, "proxy"),
		    "proxy: \"%s\" %s", proxy, why);
	if (!settings_publisher_ok(publisher))
		return conf_fail(err, config_setting_get_member(root,
		    "publisher"), "publisher: \"%s\" is not a publisher name "
		    "([A-Za-z0-9.]+)", publisher);
	if (ca[0] == '\0')
		return conf_fail(err, config_setting_get_member(root,
		    "packages_ca"), "packages_ca: a file, not \"\"");
	if (ca[0] == '/')
		snprintf(path, sizeof(path), "%s", ca);
	else
		snprintf(path, sizeof(path), "%s/%s", r->config_dir, ca);
	if ((s->proxy = strdup(proxy)) == NULL ||
	    (s->publisher = strdup(publisher)) == NULL ||
	    (s->packages_ca = strdup(path)) == NULL)
		return conf_fail(err, root, "out of memory");
	return 0;
}

int
gc_settings_load(const char *config_dir, struct gc_settings *s, char *errbuf,
    size_t errlen)
{
	struct settings_reading	r = { s, config_dir };

	memset(s, 0, sizeof(*s));
	s->poll_seconds = 300;
	s->backups = 100;
	s->cloud_timeout_seconds = 30;
	s->command_timeout_seconds = 10;
	if (conf_load_file(config_dir, GC_FILE_CONF, &s->path, &s->found,
	    settings_read, &r, errbuf, errlen) == -1) {
		gc_settings_clear(s);
		return -1;
	}
	return 0;
}

void
gc_settings_clear(struct gc_settings *s)
{
	free(s->path);
	free(s->proxy);
	free(s->publisher);
	free(s->packages_ca);
	memset(s, 0, sizeof(*s));
}
