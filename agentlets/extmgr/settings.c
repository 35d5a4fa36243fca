/* settings.c -- extmgr.conf: how often extmgr reconciles, how it reaches the cloud, what it trusts for packages, the handlers' time limits and when a heartbeat is stale. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "defaults.h"
#include "manifest.h"
#include "settings.h"
#include "url.h"

static const char *const settings_keys[] = {
	"poll_seconds", "proxy", "packages_ca", "himds_endpoint", "certs_dir",
	"cloud_timeout_seconds", "download_attempts", "download_backoff_ms",
	"download_stall_seconds", "install_timeout_seconds",
	"enable_timeout_seconds", "update_timeout_seconds",
	"disable_timeout_seconds", "uninstall_timeout_seconds",
	"heartbeat_stale_seconds", NULL
};

/* In enum manifest_op's order, with the VM agent's defaults. */
static const struct {
	const char	*key;
	long long	 def;
} settings_limits[EXTMGR_NLIMITS] = {
	{ "install_timeout_seconds", 900 },
	{ "enable_timeout_seconds", 300 },
	{ "update_timeout_seconds", 900 },
	{ "disable_timeout_seconds", 900 },
	{ "uninstall_timeout_seconds", 300 },
};

static int
settings_read(struct extmgr_settings *s, config_t *lc, const char *config_dir,
    struct conf_error *err)
{
	const config_setting_t	*root;
	const char		*proxy = ARC_URL_PROXY, *himds = ARC_URL_HIMDS;
	const char		*ca = EXTMGR_PACKAGES_CA, *certs = NULL;
	const char		*why;
	char			 host[256], path[PATH_MAX];
	uint16_t		 port;
	int			 i;

	root = config_root_setting(lc);
	if (conf_check_keys(root, settings_keys, err) == -1 ||
	    conf_int(root, "poll_seconds", 1, 86400, &s->poll_seconds,
	    err) == -1 ||
	    conf_string(root, "proxy", &proxy, err) == -1 ||
	    conf_string(root, "packages_ca", &ca, err) == -1 ||
	    conf_string(root, "himds_endpoint", &himds, err) == -1 ||
	    conf_string(root, "certs_dir", &certs, err) == -1 ||
	    conf_int(root, "cloud_timeout_seconds", 1, 600,
	    &s->cloud_timeout_seconds, err) == -1 ||
	    conf_int(root, "download_attempts", 1, 100, &s->download_attempts,
	    err) == -1 ||
	    conf_int(root, "download_backoff_ms", 1, 600000,
	    &s->download_backoff_ms, err) == -1 ||
	    conf_int(root, "download_stall_seconds", 1, 3600,
	    &s->download_stall_seconds, err) == -1 ||
	    conf_int(root, "heartbeat_stale_seconds", 1, 86400,
	    &s->heartbeat_stale_seconds, err) == -1)
		return -1;
	for (i = 0; i < EXTMGR_NLIMITS; i++)
		if (conf_int(root, settings_limits[i].key, 1, 86400,
		    &s->limit_seconds[i], err) == -1)
			return -1;
	if (url_parse_local_proxy(proxy, host, sizeof(host), &port, &why) == -1)
		return conf_fail(err, config_setting_get_member(root, "proxy"),
		    "proxy: \"%s\" %s", proxy, why);
	if (url_parse_authority(himds, "http", 80, host, sizeof(host),
	    &port) == -1)
		return conf_fail(err, config_setting_get_member(root,
		    "himds_endpoint"), "himds_endpoint: \"%s\" is not like "
		    "\"http://127.0.0.1:40342\"", himds);
	if (ca[0] == '\0')
		return conf_fail(err, config_setting_get_member(root,
		    "packages_ca"), "packages_ca: a file, not \"\"");
	if (certs != NULL && (certs[0] != '/' || strlen(certs) >= PATH_MAX - 64))
		return conf_fail(err, config_setting_get_member(root,
		    "certs_dir"), "certs_dir: \"%s\" is not an absolute path "
		    "like \"/var/lib/waagent\"", certs);
	if (ca[0] == '/')
		snprintf(path, sizeof(path), "%s", ca);
	else
		snprintf(path, sizeof(path), "%s/%s", config_dir, ca);
	if ((s->proxy = strdup(proxy)) == NULL ||
	    (s->himds_endpoint = strdup(himds)) == NULL ||
	    (s->packages_ca = strdup(path)) == NULL ||
	    (certs != NULL && (s->certs_dir = strdup(certs)) == NULL))
		return conf_fail(err, root, "out of memory");
	return 0;
}

int
extmgr_settings_load(const char *config_dir, struct extmgr_settings *s,
    char *errbuf, size_t errlen)
{
	config_t		lc;
	struct conf_error	err;
	char			path[PATH_MAX];
	int			i, rc = -1;

	memset(s, 0, sizeof(*s));
	s->poll_seconds = 300;
	s->cloud_timeout_seconds = 30;
	s->download_attempts = 10;
	s->download_backoff_ms = 1000;
	s->download_stall_seconds = 30;
	s->heartbeat_stale_seconds = MANIFEST_HEARTBEAT_STALE;
	for (i = 0; i < EXTMGR_NLIMITS; i++)
		s->limit_seconds[i] = settings_limits[i].def;
	err.text[0] = '\0';
	config_init(&lc);
	snprintf(path, sizeof(path), "%s/" EXTMGR_CONF, config_dir);
	if ((s->path = strdup(path)) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		goto done;
	}
	if (conf_read_optional(&lc, path, &s->found, &err) == -1)
		goto fail;
	if (settings_read(s, &lc, config_dir, &err) == -1)
		goto fail;
	rc = 0;
	goto done;
 fail:
	snprintf(errbuf, errlen, "%s", err.text);
	extmgr_settings_clear(s);
 done:
	config_destroy(&lc);
	return rc;
}

void
extmgr_settings_clear(struct extmgr_settings *s)
{
	free(s->path);
	free(s->proxy);
	free(s->packages_ca);
	free(s->himds_endpoint);
	free(s->certs_dir);
	memset(s, 0, sizeof(*s));
}
