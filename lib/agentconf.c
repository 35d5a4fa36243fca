/* agentconf.c -- agent.conf, the operator's local settings (azcmagent config), read by every daemon; one table of keys. */
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agentconf.h"
#include "atomicfile.h"
#include "conf.h"
#include "defaults.h"
#include "safedir.h"
#include "strtrim.h"
#include "url.h"

#define AGENTCONF_MAX_BYTES	(1 << 20)

static const char *const agentconf_types[] = { "direct", "gateway", NULL };
static const char *const agentconf_protocols[] = { "auto", "h2", "http/1.1", NULL };
static const char *const agentconf_modes[] = { "full", "monitor", NULL };
static const char *const agentconf_services[] = { "AAD", "ARM", "AMA", "Arc",
	"ArcData", NULL };

#define F(field)	offsetof(struct agentconf, field)

/* What config.mode "monitor" allows (and no other): Azure's monitor mode,
 * learn.microsoft.com azure/azure-arc/servers/security-extensions ("Agent
 * modes"), the Linux entries. */
const char *const agentconf_monitor_extensions[] = {
	"Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
	"Microsoft.Azure.AzureDefenderForServers/MDE.Linux",
	"Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-Linux",
	"Microsoft.GuestConfiguration/ConfigurationforLinux",
	"Microsoft.Azure.Security.LinuxAttestation/GuestAttestation",
	NULL
};

const struct agentconf_key agentconf_keys[] = {
	{ "connection.type", AGENTCONF_T_ENUM, agentconf_types, NULL, 0, "direct",
	    F(connection_type), "how management traffic leaves: direct (the Azure "
	    "agent's \"default\", taken too) or gateway" },
	{ "gateway.url", AGENTCONF_T_URL, NULL, "https", 0, NULL, F(gateway_url),
	    "the Arc gateway, https://host[:port]" },
	{ "gateway.ca_file", AGENTCONF_T_PATH, NULL, NULL, 0, NULL,
	    F(gateway_ca_file), "CA that the gateway's certificate must chain to" },
	{ "gateway.protocol", AGENTCONF_T_ENUM, agentconf_protocols, NULL, 0,
	    "auto", F(gateway_protocol), "auto, h2 or http/1.1 to the gateway" },
	{ "proxy.url", AGENTCONF_T_URL, NULL, "http", 0, NULL, F(proxy_url),
	    "the enterprise proxy, http://host[:port]" },
	{ "proxy.bypass", AGENTCONF_T_LIST, NULL, NULL, AGENTCONF_ITEM_SERVICE, NULL,
	    F(proxy_bypass), "services that skip proxy.url and go direct (AAD, ARM, "
	    "AMA, Arc, ArcData); not with a gateway" },
	{ "extensions.enabled", AGENTCONF_T_BOOL, NULL, NULL, 0, "true",
	    F(extensions_enabled), "whether extensions may be installed or changed" },
	{ "extensions.allowlist", AGENTCONF_T_LIST, NULL, NULL,
	    AGENTCONF_ITEM_EXTENSION, NULL, F(extensions_allowlist),
	    "only these Publisher/Type may be installed (Allow/None: none)" },
	{ "extensions.blocklist", AGENTCONF_T_LIST, NULL, NULL,
	    AGENTCONF_ITEM_EXTENSION, NULL, F(extensions_blocklist),
	    "these Publisher/Type may not be installed" },
	{ "guestconfiguration.enabled", AGENTCONF_T_BOOL, NULL, NULL, 0, "true",
	    F(guestconfiguration_enabled), "whether machine configuration runs" },
	{ "incomingconnections.enabled", AGENTCONF_T_BOOL, NULL, NULL, 0, "true",
	    F(incomingconnections_enabled), "whether remote connections may be set up" },
	{ "incomingconnections.ports", AGENTCONF_T_LIST, NULL, NULL,
	    AGENTCONF_ITEM_PORT, NULL, F(incomingconnections_ports),
	    "ports that remote connections may use" },
	{ "config.mode", AGENTCONF_T_ENUM, agentconf_modes, NULL, 0, "full",
	    F(config_mode), "full, or monitor: no extension or configuration changes" },
	{ NULL, 0, NULL, NULL, 0, NULL, 0, NULL }
};

#define FIELD(ac, k, type)	((type *)((char *)(ac) + (k)->offset))

static int
agentconf_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
agentconf_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

const struct agentconf_key *
agentconf_key_find(const char *name)
{
	const struct agentconf_key	*k;

	for (k = agentconf_keys; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static void
agentconf_list_clear(struct agentconf_list *l)
{
	int	i;

	for (i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int
agentconf_item_ok(const struct agentconf_key *k, const char *item, char *err,
    size_t errlen)
{
	const char	*slash;
	char		*end;
	long		 a, b;
	int		 i;

	switch (k->item) {
	case AGENTCONF_ITEM_EXTENSION:
		slash = strchr(item, '/');
		if (slash == NULL || slash == item || slash[1] == '\0' ||
		    strchr(slash + 1, '/') != NULL || strpbrk(item, " \t\"") != NULL)
			return agentconf_fail(err, errlen, "%s: \"%s\" is not "
			    "Publisher/Type (like Microsoft.Azure.Monitor/AzureMonitorLinuxAgent, "
			    "or Allow/None)", k->name, item);
		return 0;
	case AGENTCONF_ITEM_PORT:
		a = strtol(item, &end, 10);
		b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		if (item[0] == '\0' || *end != '\0' || a < 1 || b > 65535 || a > b)
			return agentconf_fail(err, errlen, "%s: \"%s\" is not a port "
			    "(1-65535) or a range like 8000-8080", k->name, item);
		return 0;
	case AGENTCONF_ITEM_SERVICE:
		for (i = 0; agentconf_services[i] != NULL; i++)
			if (strcmp(item, agentconf_services[i]) == 0)
				return 0;
		return agentconf_fail(err, errlen, "%s: \"%s\" is not one of AAD, "
		    "ARM, AMA, Arc, ArcData", k->name, item);
	case AGENTCONF_ITEM_ANY:
		break;
	}
	return item[0] == '\0' ? agentconf_fail(err, errlen, "%s: empty entry",
	    k->name) : 0;
}

/* Extension entries are the same ignoring case, as extmgr matches them
 * (policy.c): "--remove A/B" must revoke a stored "a/b". */
static int
agentconf_item_same(const struct agentconf_key *k, const char *a, const char *b)
{
	if (k->item == AGENTCONF_ITEM_EXTENSION)
		return strcasecmp(a, b) == 0;
	return strcmp(a, b) == 0;
}

static int
agentconf_list_push(struct agentconf_list *l, const char *item)
{
	char	**n;

	if ((n = reallocarray(l->items, l->n + 1, sizeof(char *))) == NULL)
		return -1;
	l->items = n;
	if ((l->items[l->n] = strdup(item)) == NULL)
		return -1;
	l->n++;
	return 0;
}

static int
agentconf_enum_index(const struct agentconf_key *k, const char *text)
{
	int	i;

	/* The Azure agent calls the direct connection type "default". */
	if (k->values == agentconf_types && strcmp(text, "default") == 0)
		text = "direct";
	for (i = 0; k->values[i] != NULL; i++)
		if (strcmp(k->values[i], text) == 0)
			return i;
	return -1;
}

void
agentconf_reset(struct agentconf *ac, const struct agentconf_key *k)
{
	switch (k->type) {
	case AGENTCONF_T_ENUM:
		*FIELD(ac, k, int) = agentconf_enum_index(k, k->def);
		break;
	case AGENTCONF_T_BOOL:
		*FIELD(ac, k, int) = strcmp(k->def, "true") == 0;
		break;
	case AGENTCONF_T_URL:
	case AGENTCONF_T_PATH:
		free(*FIELD(ac, k, char *));
		*FIELD(ac, k, char *) = NULL;
		break;
	case AGENTCONF_T_LIST:
		agentconf_list_clear(FIELD(ac, k, struct agentconf_list));
		break;
	}
}

/*
 * A file named in agent.conf, as an absolute path: a relative name is taken
 * relative to the config dir, and a relative config dir (run/etc) to the
 * working directory.  What is saved then means the same file to whoever
 * loads it, and loading it again does not add the config dir once more.
 */
static int
agentconf_abspath(const char *config_dir, const char *name, char *out,
    size_t len, char *err, size_t errlen)
{
	char	cwd[PATH_MAX];
	int	n;

	if (name[0] == '/')
		n = snprintf(out, len, "%s", name);
	else if (config_dir[0] == '/')
		n = snprintf(out, len, "%s/%s", config_dir, name);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		return agentconf_fail(err, errlen, "cannot make %s/%s absolute: "
		    "working directory: %s", config_dir, name, strerror(errno));
	else
		n = snprintf(out, len, "%s/%s/%s", cwd, config_dir, name);
	if (n < 0 || (size_t)n >= len)
		return agentconf_fail(err, errlen, "\"%s\": the path is too long",
		    name);
	return 0;
}

static int
agentconf_set_scalar(struct agentconf *ac, const struct agentconf_key *k,
    const char *text, const char *config_dir, char *err, size_t errlen)
{
	char		 host[256], path[PATH_MAX], list[128];
	uint16_t	 port;
	int		 i;
	size_t		 len = 0;

	switch (k->type) {
	case AGENTCONF_T_ENUM:
		if ((i = agentconf_enum_index(k, text)) >= 0) {
			*FIELD(ac, k, int) = i;
			return 0;
		}
		list[0] = '\0';
		for (i = 0; k->values[i] != NULL && len < sizeof(list); i++)
			len += snprintf(list + len, sizeof(list) - len, "%s%s",
			    i ? ", " : "", k->values[i]);
		return agentconf_fail(err, errlen, "%s: \"%s\" is not one of: %s",
		    k->name, text, list);
	case AGENTCONF_T_BOOL:
		if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
			return agentconf_fail(err, errlen, "%s: \"%s\" is not true "
			    "or false", k->name, text);
		*FIELD(ac, k, int) = text[0] == 't';
		return 0;
	case AGENTCONF_T_URL:
		if (text[0] != '\0' && url_parse_authority(text, k->scheme,
		    strcmp(k->scheme, "https") == 0 ? 443 : 3128, host,
		    sizeof(host), &port) == -1)
			return agentconf_fail(err, errlen, "%s: \"%s\" is not a URL "
			    "like %s://host[:port] (no path, no user)", k->name, text,
			    k->scheme);
		break;
	case AGENTCONF_T_PATH:
		if (text[0] != '\0') {
			if (agentconf_abspath(config_dir, text, path, sizeof(path),
			    err, errlen) == -1)
				return -1;
			text = path;
		}
		break;
	case AGENTCONF_T_LIST:
		break;
	}
	free(*FIELD(ac, k, char *));
	*FIELD(ac, k, char *) = NULL;
	if (text[0] != '\0' && (*FIELD(ac, k, char *) = strdup(text)) == NULL)
		return agentconf_fail(err, errlen, "out of memory");
	return 0;
}

/* A checked entry into l, unless it is there already. */
static int
agentconf_list_insert(const struct agentconf_key *k, struct agentconf_list *l,
    const char *item, char *err, size_t errlen)
{
	int	i;

	if (agentconf_item_ok(k, item, err, errlen) == -1)
		return -1;
	for (i = 0; i < l->n; i++)
		if (agentconf_item_same(k, l->items[i], item))
			return 0;
	return agentconf_list_push(l, item) == -1 ?
	    agentconf_fail(err, errlen, "out of memory") : 0;
}

static void
agentconf_list_delete(const struct agentconf_key *k, struct agentconf_list *l,
    const char *item)
{
	int	i;

	for (i = 0; i < l->n; i++)
		if (agentconf_item_same(k, l->items[i], item)) {
			free(l->items[i]);
			memmove(&l->items[i], &l->items[i + 1],
			    (l->n - i - 1) * sizeof(char *));
			l->n--;
			return;
		}
}

/* The entries of "A/B , C/D" as typed, trimmed on both sides, unchecked. */
static int
agentconf_split(const char *text, struct agentconf_list *out, char *err,
    size_t errlen)
{
	char	*copy, *item, *save = NULL;

	memset(out, 0, sizeof(*out));
	if ((copy = strdup(text)) == NULL)
		return agentconf_fail(err, errlen, "out of memory");
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save))
		if (agentconf_list_push(out, strtrim(item)) == -1) {
			free(copy);
			agentconf_list_clear(out);
			return agentconf_fail(err, errlen, "out of memory");
		}
	free(copy);
	return 0;
}

int
agentconf_set(struct agentconf *ac, const struct agentconf_key *k,
    const char *text, const char *config_dir, char *err, size_t errlen)
{
	struct agentconf_list	 typed, l = { NULL, 0 };
	int			 i;

	if (k->type != AGENTCONF_T_LIST)
		return agentconf_set_scalar(ac, k, text, config_dir, err, errlen);
	if (agentconf_split(text, &typed, err, errlen) == -1)
		return -1;
	/* A repeat is stored once, so that what is printed is what is stored. */
	for (i = 0; i < typed.n; i++)
		if (agentconf_list_insert(k, &l, typed.items[i], err,
		    errlen) == -1) {
			agentconf_list_clear(&typed);
			agentconf_list_clear(&l);
			return -1;
		}
	agentconf_list_clear(&typed);
	agentconf_list_clear(FIELD(ac, k, struct agentconf_list));
	*FIELD(ac, k, struct agentconf_list) = l;
	return 0;
}

int
agentconf_list_add(struct agentconf *ac, const struct agentconf_key *k,
    const char *item, char *err, size_t errlen)
{
	if (k->type != AGENTCONF_T_LIST)
		return agentconf_fail(err, errlen, "%s is not a list", k->name);
	return agentconf_list_insert(k, FIELD(ac, k, struct agentconf_list),
	    item, err, errlen);
}

int
agentconf_list_remove(struct agentconf *ac, const struct agentconf_key *k,
    const char *item, char *err, size_t errlen)
{
	if (k->type != AGENTCONF_T_LIST)
		return agentconf_fail(err, errlen, "%s is not a list", k->name);
	agentconf_list_delete(k, FIELD(ac, k, struct agentconf_list), item);
	return 0;
}

int
agentconf_list_edit(struct agentconf *ac, const struct agentconf_key *k,
    const char *text, int add, char *err, size_t errlen)
{
	struct agentconf_list	 typed;
	int			 i, rc = 0;

	if (k->type != AGENTCONF_T_LIST)
		return agentconf_fail(err, errlen, "%s is not a list: --add and "
		    "--remove are for list keys", k->name);
	if (agentconf_split(text, &typed, err, errlen) == -1)
		return -1;
	for (i = 0; i < typed.n && rc == 0; i++)
		if (add)
			rc = agentconf_list_add(ac, k, typed.items[i], err, errlen);
		else
			rc = agentconf_list_remove(ac, k, typed.items[i], err,
			    errlen);
	agentconf_list_clear(&typed);
	return rc;
}

char *
agentconf_get(const struct agentconf *ac, const struct agentconf_key *k)
{
	const struct agentconf_list	*l;
	const char			*s;
	size_t				 len = 1;
	char				*out;
	int				 i;

	switch (k->type) {
	case AGENTCONF_T_ENUM:
		return strdup(k->values[*FIELD(ac, k, int)]);
	case AGENTCONF_T_BOOL:
		return strdup(*FIELD(ac, k, int) ? "true" : "false");
	case AGENTCONF_T_URL:
	case AGENTCONF_T_PATH:
		s = *FIELD(ac, k, char *);
		return strdup(s != NULL ? s : "");
	case AGENTCONF_T_LIST:
		l = FIELD(ac, k, struct agentconf_list);
		for (i = 0; i < l->n; i++)
			len += strlen(l->items[i]) + 1;
		if ((out = calloc(1, len)) == NULL)
			return NULL;
		for (i = 0; i < l->n; i++) {
			if (i > 0)
				strcat(out, ",");
			strcat(out, l->items[i]);
		}
		return out;
	}
	return NULL;
}

/* One key from the file, checked against the table. */
static int
agentconf_load_key(struct agentconf *ac, const struct agentconf_key *k,
    const config_setting_t *s, const char *config_dir, struct conf_error *err)
{
	const config_setting_t	*e;
	char			 why[300];
	int			 i;

	switch (k->type) {
	case AGENTCONF_T_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return conf_fail(err, s, "%s must be true or false", k->name);
		*FIELD(ac, k, int) = config_setting_get_bool(s);
		return 0;
	case AGENTCONF_T_LIST:
		if (!config_setting_is_array(s) && !config_setting_is_list(s))
			return conf_fail(err, s, "%s must be a list of strings, like "
			    "[ \"a\", \"b\" ]", k->name);
		for (i = 0; (e = config_setting_get_elem(s, i)) != NULL; i++) {
			if (config_setting_type(e) != CONFIG_TYPE_STRING)
				return conf_fail(err, e, "%s: entry %d must be a "
				    "string", k->name, i + 1);
			if (agentconf_list_add(ac, k, config_setting_get_string(e),
			    why, sizeof(why)) == -1)
				return conf_fail(err, e, "%s", why);
		}
		return 0;
	default:
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return conf_fail(err, s, "%s must be a string in double quotes",
			    k->name);
		if (agentconf_set_scalar(ac, k, config_setting_get_string(s),
		    config_dir, why, sizeof(why)) == -1)
			return conf_fail(err, s, "%s", why);
		return 0;
	}
}

static void
agentconf_defaults(struct agentconf *ac)
{
	const struct agentconf_key	*k;

	memset(ac, 0, sizeof(*ac));
	for (k = agentconf_keys; k->name != NULL; k++)
		agentconf_reset(ac, k);
}

int
agentconf_load(const char *config_dir, struct agentconf *ac, char *errbuf,
    size_t errlen)
{
	config_t			 lc;
	struct conf_error		 err;
	const config_setting_t		*root, *g, *s;
	const struct agentconf_key	*k;
	char				 path[PATH_MAX], name[128];
	int				 i, j;

	agentconf_defaults(ac);
	err.text[0] = '\0';
	snprintf(path, sizeof(path), "%s/" ARC_FILE_AGENT_CONF, config_dir);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	config_init(&lc);
	if (conf_read(&lc, path, &err) == -1)
		goto fail;
	root = config_root_setting(&lc);
	for (i = 0; (g = config_setting_get_elem(root, i)) != NULL; i++) {
		if (!config_setting_is_group(g)) {
			conf_fail(&err, g, "'%s' must be a group, like %s = { ... }",
			    config_setting_name(g), config_setting_name(g));
			goto fail;
		}
		for (j = 0; (s = config_setting_get_elem(g, j)) != NULL; j++) {
			snprintf(name, sizeof(name), "%s.%s", config_setting_name(g),
			    config_setting_name(s));
			if ((k = agentconf_key_find(name)) == NULL) {
				conf_fail(&err, s, "unknown key '%s' (azcmagent config "
				    "list shows the keys)", name);
				goto fail;
			}
			if (agentconf_load_key(ac, k, s, config_dir, &err) == -1)
				goto fail;
		}
		if (j == 0 && agentconf_key_find(config_setting_name(g)) == NULL) {
			/* An empty group is harmless, but only a known one. */
			for (k = agentconf_keys; k->name != NULL; k++)
				if (strncmp(k->name, config_setting_name(g),
				    strlen(config_setting_name(g))) == 0 &&
				    k->name[strlen(config_setting_name(g))] == '.')
					break;
			if (k->name == NULL) {
				conf_fail(&err, g, "unknown group '%s'",
				    config_setting_name(g));
				goto fail;
			}
		}
	}
	config_destroy(&lc);
	return 0;
 fail:
	snprintf(errbuf, errlen, "%s", err.text[0] ? err.text : "out of memory");
	config_destroy(&lc);
	agentconf_clear(ac);
	return -1;
}

void
agentconf_clear(struct agentconf *ac)
{
	const struct agentconf_key	*k;

	for (k = agentconf_keys; k->name != NULL; k++)
		agentconf_reset(ac, k);
	memset(ac, 0, sizeof(*ac));
}

static void
agentconf_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int
agentconf_check(const struct agentconf *ac, char *err, size_t errlen)
{
	char	why[PATH_MAX + 128];

	if (ac->connection_type != AGENTCONF_GATEWAY)
		return 0;
	if (ac->gateway_url == NULL)
		return agentconf_fail(err, errlen, "connection.type is \"gateway\" "
		    "but gateway.url is not set");
	if (ac->gateway_ca_file == NULL)
		return agentconf_fail(err, errlen, "connection.type is \"gateway\" "
		    "but gateway.ca_file is not set");
	/* The gateway's trust anchor, read by root: only root may change it. */
	if (geteuid() == 0 && safedir_trusted_file(ac->gateway_ca_file, NULL, 0,
	    why, sizeof(why)) == -1)
		return agentconf_fail(err, errlen, "gateway.ca_file: %s (root "
		    "reads it: put it where only root can change it)", why);
	return 0;
}

int
agentconf_save(const char *config_dir, const struct agentconf *ac, char *err,
    size_t errlen)
{
	const struct agentconf_key	*k;
	struct agentconf		 def;
	char				 path[PATH_MAX], group[64], *text = NULL;
	size_t				 len = 0, glen;
	FILE				*f;
	int				 i, rc;

	if ((f = open_memstream(&text, &len)) == NULL)
		return agentconf_fail(err, errlen, "out of memory");
	agentconf_defaults(&def);
	fprintf(f, "# agent.conf: the local settings; written by azcmagent config.\n");
	group[0] = '\0';
	for (k = agentconf_keys; k->name != NULL; k++) {
		char *v = agentconf_get(ac, k), *d = agentconf_get(&def, k);
		int same = v != NULL && d != NULL && strcmp(v, d) == 0;

		free(v);
		free(d);
		if (same)
			continue;
		glen = strchr(k->name, '.') - k->name;
		if (strlen(group) != glen || strncmp(group, k->name, glen) != 0) {
			if (group[0] != '\0')
				fprintf(f, "};\n");
			snprintf(group, sizeof(group), "%.*s", (int)glen, k->name);
			fprintf(f, "%s = {\n", group);
		}
		fprintf(f, "\t%s = ", k->name + glen + 1);
		switch (k->type) {
		case AGENTCONF_T_ENUM:
			agentconf_quote(f, k->values[*FIELD(ac, k, int)]);
			break;
		case AGENTCONF_T_BOOL:
			fputs(*FIELD(ac, k, int) ? "true" : "false", f);
			break;
		case AGENTCONF_T_URL:
		case AGENTCONF_T_PATH:
			agentconf_quote(f, *FIELD(ac, k, char *));
			break;
		case AGENTCONF_T_LIST:
			fputs("[ ", f);
			for (i = 0; i < FIELD(ac, k, struct agentconf_list)->n; i++) {
				if (i > 0)
					fputs(", ", f);
				agentconf_quote(f,
				    FIELD(ac, k, struct agentconf_list)->items[i]);
			}
			fputs(" ]", f);
			break;
		}
		fputs(";\n", f);
	}
	if (group[0] != '\0')
		fprintf(f, "};\n");
	agentconf_clear(&def);
	if (fclose(f) != 0) {
		free(text);
		return agentconf_fail(err, errlen, "out of memory");
	}
	snprintf(path, sizeof(path), "%s/" ARC_FILE_AGENT_CONF, config_dir);
	rc = atomicfile_write(path, text, len, 0644, err, errlen);
	free(text);
	return rc;
}
