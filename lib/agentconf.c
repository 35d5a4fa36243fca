/* agentconf.c -- agent.conf, the operator's local settings (azcmagent config), read by every daemon. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentconf.h"
#include "conf.h"

static const char *const agentconf_groups[] = {
	"connection", "gateway", "proxy", "extensions", "guestconfiguration",
	"incomingconnections", "config", NULL
};
static const char *const agentconf_connection_keys[] = { "type", NULL };
static const char *const agentconf_gateway_keys[] = { "url", "ca_file", "protocol", NULL };
static const char *const agentconf_proxy_keys[] = { "url", "bypass", NULL };
static const char *const agentconf_types[] = { "direct", "gateway", NULL };
static const char *const agentconf_protocols[] = { "auto", "h2", "http/1.1", NULL };

static int
agentconf_group(const config_setting_t *root, const char *name,
    const char *const *keys, const config_setting_t **out,
    struct conf_error *err)
{
	const config_setting_t	*g = config_setting_get_member(root, name);

	*out = NULL;
	if (g == NULL)
		return 0;
	if (!config_setting_is_group(g))
		return conf_fail(err, g, "'%s' must be a group { ... }", name);
	if (keys != NULL && conf_check_keys(g, keys, err) == -1)
		return -1;
	*out = g;
	return 0;
}

static int
agentconf_dup(char **dst, const char *src, struct conf_error *err)
{
	if (src == NULL || src[0] == '\0')
		return 0;
	if ((*dst = strdup(src)) == NULL) {
		snprintf(err->text, sizeof(err->text), "out of memory");
		return -1;
	}
	return 0;
}

int
agentconf_load(const char *config_dir, struct agentconf *ac, char *errbuf,
    size_t errlen)
{
	config_t		 lc;
	struct conf_error	 err;
	const config_setting_t	*root, *g, *list = NULL;
	const char		*s;
	char			 path[PATH_MAX];
	int			 type = AGENTCONF_DIRECT, proto = 0, i;

	memset(ac, 0, sizeof(*ac));
	err.text[0] = '\0';
	snprintf(path, sizeof(path), "%s/agent.conf", config_dir);
	config_init(&lc);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		goto defaults;
	if (conf_read(&lc, path, &err) == -1)
		goto fail;
	root = config_root_setting(&lc);
	if (conf_check_keys(root, agentconf_groups, &err) == -1)
		goto fail;
	if (agentconf_group(root, "connection", agentconf_connection_keys, &g, &err) == -1 ||
	    (g != NULL && conf_enum(g, "type", agentconf_types, &type, &err) == -1))
		goto fail;
	ac->connection_type = type;
	if (agentconf_group(root, "gateway", agentconf_gateway_keys, &g, &err) == -1)
		goto fail;
	if (g != NULL) {
		s = NULL;
		if (conf_string(g, "url", &s, &err) == -1 ||
		    agentconf_dup(&ac->gateway_url, s, &err) == -1)
			goto fail;
		s = NULL;
		if (conf_string(g, "ca_file", &s, &err) == -1)
			goto fail;
		if (s != NULL && s[0] != '\0') {
			char	abs[PATH_MAX];

			snprintf(abs, sizeof(abs), "%s%s%s", s[0] == '/' ? "" :
			    config_dir, s[0] == '/' ? "" : "/", s);
			if (agentconf_dup(&ac->gateway_ca_file, abs, &err) == -1)
				goto fail;
		}
		if (conf_enum(g, "protocol", agentconf_protocols, &proto, &err) == -1)
			goto fail;
	}
	if (agentconf_dup(&ac->gateway_protocol, agentconf_protocols[proto], &err) == -1)
		goto fail;
	if (agentconf_group(root, "proxy", agentconf_proxy_keys, &g, &err) == -1)
		goto fail;
	if (g != NULL) {
		s = NULL;
		if (conf_string(g, "url", &s, &err) == -1 ||
		    agentconf_dup(&ac->proxy_url, s, &err) == -1 ||
		    conf_string_list(g, "bypass", &list, &err) == -1)
			goto fail;
		if (list != NULL && config_setting_length(list) > 0) {
			int n = config_setting_length(list);

			if ((ac->proxy_bypass = calloc(n, sizeof(char *))) == NULL)
				goto fail;
			for (i = 0; i < n; i++) {
				if (agentconf_dup(&ac->proxy_bypass[i],
				    config_setting_get_string_elem(list, i), &err) == -1)
					goto fail;
				ac->nproxy_bypass++;
			}
		}
	}
	config_destroy(&lc);
	return 0;
 defaults:
	config_destroy(&lc);
	return agentconf_dup(&ac->gateway_protocol, "auto", &err) == -1 ? -1 : 0;
 fail:
	snprintf(errbuf, errlen, "%s", err.text[0] ? err.text : "out of memory");
	config_destroy(&lc);
	agentconf_clear(ac);
	return -1;
}

void
agentconf_clear(struct agentconf *ac)
{
	int	i;

	free(ac->gateway_url);
	free(ac->gateway_ca_file);
	free(ac->gateway_protocol);
	free(ac->proxy_url);
	for (i = 0; i < ac->nproxy_bypass; i++)
		free(ac->proxy_bypass[i]);
	free(ac->proxy_bypass);
	memset(ac, 0, sizeof(*ac));
}
