/* proxyconf.c -- what azcmagent needs from arcproxy.conf: where the proxy and its admin API listen, the access log, the hosts table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "proxyconf.h"

static void
proxyconf_defaults(const char *state_dir, struct proxyconf *pc)
{
	memset(pc, 0, sizeof(*pc));
	snprintf(pc->listen, sizeof(pc->listen), "%s", PROXYCONF_DEFAULT_LISTEN);
	snprintf(pc->admin, sizeof(pc->admin), "%s", PROXYCONF_DEFAULT_ADMIN);
	/* arcproxy's log is in its own <state>/arcproxy. */
	snprintf(pc->access_log, sizeof(pc->access_log), "%s/arcproxy/%s",
	    state_dir, PROXYCONF_DEFAULT_LOG);
}

static int
proxyconf_hosts(const config_setting_t *root, struct proxyconf *pc,
    struct conf_error *err)
{
	const config_setting_t	*list = NULL, *h;
	const char		*name, *address;
	int			 i;

	if (conf_group_list(root, "hosts", &list, err) == -1)
		return -1;
	for (i = 0; list != NULL && (h = config_setting_get_elem(list, i)) != NULL;
	    i++) {
		name = address = NULL;
		if (conf_string(h, "name", &name, err) == -1 ||
		    conf_string(h, "address", &address, err) == -1)
			return -1;
		if (name == NULL || address == NULL ||
		    pc->nhosts == PROXYCONF_MAX_HOSTS)
			continue;
		snprintf(pc->hosts[pc->nhosts].name, sizeof(pc->hosts[0].name),
		    "%s", name);
		snprintf(pc->hosts[pc->nhosts].address,
		    sizeof(pc->hosts[0].address), "%s", address);
		pc->nhosts++;
	}
	return 0;
}

int
proxyconf_load(const char *config_dir, const char *state_dir,
    struct proxyconf *pc, char *errbuf, size_t errlen)
{
	config_t			 lc;
	struct conf_error		 err;
	const config_setting_t		*root, *list = NULL, *first;
	const char			*admin = NULL, *alog = NULL;
	char				 path[PATH_MAX];

	proxyconf_defaults(state_dir, pc);
	snprintf(path, sizeof(path), "%s/arcproxy.conf", config_dir);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	config_init(&lc);
	if (conf_read(&lc, path, &err) == -1)
		goto fail;
	root = config_root_setting(&lc);
	if (conf_string_list(root, "listen", &list, &err) == -1 ||
	    conf_string(root, "admin_listen", &admin, &err) == -1 ||
	    conf_string(root, "access_log", &alog, &err) == -1 ||
	    proxyconf_hosts(root, pc, &err) == -1)
		goto fail;
	if (list != NULL && (first = config_setting_get_elem(list, 0)) != NULL &&
	    config_setting_get_string(first) != NULL)
		snprintf(pc->listen, sizeof(pc->listen), "%s",
		    config_setting_get_string(first));
	if (admin != NULL)
		snprintf(pc->admin, sizeof(pc->admin), "%s", admin);
	if (alog != NULL && (alog[0] == '\0' || strcmp(alog, "-") == 0))
		pc->access_log[0] = '\0';
	else if (alog != NULL && alog[0] == '/')
		snprintf(pc->access_log, sizeof(pc->access_log), "%s", alog);
	else if (alog != NULL)
		snprintf(pc->access_log, sizeof(pc->access_log),
		    "%s/arcproxy/%s", state_dir, alog);
	config_destroy(&lc);
	return 0;
 fail:
	snprintf(errbuf, errlen, "%s", err.text);
	config_destroy(&lc);
	proxyconf_defaults(state_dir, pc);
	return -1;
}

int
proxyconf_url(const char *listener, char *url, size_t len)
{
	const char	*colon;
	int		 n;

	if ((colon = strrchr(listener, ':')) == NULL || colon[1] == '\0')
		return -1;
	if (strncmp(listener, "0.0.0.0:", 8) == 0)
		n = snprintf(url, len, "http://127.0.0.1%s", colon);
	else if (strncmp(listener, "[::]:", 5) == 0)
		n = snprintf(url, len, "http://[::1]%s", colon);
	else
		n = snprintf(url, len, "http://%s", listener);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

const char *
proxyconf_host(const struct proxyconf *pc, const char *name)
{
	int	i;

	for (i = 0; i < pc->nhosts; i++)
		if (strcasecmp(pc->hosts[i].name, name) == 0)
			return pc->hosts[i].address;
	return NULL;
}
