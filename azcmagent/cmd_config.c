/* cmd_config.c -- azcmagent config list|get|set|clear|info: thin over agent.conf's one table of keys, written atomically, daemons told to reload. */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentconf.h"
#include "azcmagent.h"
#include "identity.h"
#include "safedir.h"
#include "state.h"

#define FIELD(ac, k, type)	((type *)((char *)(ac) + (k)->offset))

enum config_change {
	CONFIG_SET,		/* set KEY VALUE */
	CONFIG_ADD,		/* set KEY VALUE --add */
	CONFIG_REMOVE,		/* set KEY VALUE --remove */
	CONFIG_CLEAR,		/* clear KEY */
};

static const char *const config_type_names[] = {
	[AGENTCONF_T_ENUM] = "enum",
	[AGENTCONF_T_BOOL] = "bool",
	[AGENTCONF_T_URL] = "url",
	[AGENTCONF_T_PATH] = "path",
	[AGENTCONF_T_LIST] = "list",
};

static void
config_key_names(char *out, size_t len)
{
	const struct agentconf_key	*k;
	size_t				 used = 0;

	out[0] = '\0';
	for (k = agentconf_keys; k->name != NULL && used < len; k++)
		used += (size_t)snprintf(out + used, len - used, "%s%s",
		    k == agentconf_keys ? "" : ", ", k->name);
}

static const struct agentconf_key *
config_key(const char *name, int *rc)
{
	const struct agentconf_key	*k;
	char				 names[1024];

	if ((k = agentconf_key_find(name)) != NULL)
		return k;
	config_key_names(names, sizeof(names));
	*rc = azcm_fail(AZCM_EARGS, "unknown key '%s'; the keys are: %s", name,
	    names);
	return NULL;
}

/* What a key takes, in words: for info and for errors. */
static void
config_key_accepts(const struct agentconf_key *k, char *out, size_t len)
{
	size_t	used = 0;
	int	i;

	switch (k->type) {
	case AGENTCONF_T_ENUM:
		out[0] = '\0';
		for (i = 0; k->values[i] != NULL && used < len; i++)
			used += (size_t)snprintf(out + used, len - used, "%s%s",
			    i ? ", " : "", k->values[i]);
		break;
	case AGENTCONF_T_BOOL:
		snprintf(out, len, "true, false");
		break;
	case AGENTCONF_T_URL:
		snprintf(out, len, "%s://host[:port]", k->scheme);
		break;
	case AGENTCONF_T_PATH:
		snprintf(out, len, "a file (relative: to the config dir; stored "
		    "absolute)");
		break;
	case AGENTCONF_T_LIST:
		snprintf(out, len, "%s", k->item == AGENTCONF_ITEM_EXTENSION ?
		    "Publisher/Type entries, or Allow/None" :
		    k->item == AGENTCONF_ITEM_PORT ? "ports or ranges (22, 8000-8080)" :
		    k->item == AGENTCONF_ITEM_SERVICE ? "AAD, ARM, AMA, Arc, ArcData" :
		    "strings");
		break;
	}
}

/* A key's value as JSON: a list is an array, a bool a bool, unset null. */
static json_t *
config_json_value(const struct agentconf *ac, const struct agentconf_key *k)
{
	const struct agentconf_list	*l;
	const char			*s;
	json_t				*arr;
	int				 i;

	switch (k->type) {
	case AGENTCONF_T_ENUM:
		return json_string(k->values[*FIELD(ac, k, const int)]);
	case AGENTCONF_T_BOOL:
		return json_boolean(*FIELD(ac, k, const int));
	case AGENTCONF_T_URL:
	case AGENTCONF_T_PATH:
		s = *FIELD(ac, k, char *const);
		return s != NULL ? json_string(s) : json_null();
	case AGENTCONF_T_LIST:
		l = FIELD(ac, k, const struct agentconf_list);
		arr = json_array();
		for (i = 0; i < l->n; i++)
			json_array_append_new(arr, json_string(l->items[i]));
		return arr;
	}
	return json_null();
}

static int
config_load(struct azcm *a, struct agentconf *ac)
{
	char	err[600];

	if (agentconf_load(a->config_dir, ac, err, sizeof(err)) == -1)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	return AZCM_OK;
}

/*
 * What config.mode monitor overrides (ARC-FACTS: it turns guest
 * configuration off and uses a fixed extension list; notify refuses
 * incoming connections): the stored value stays, the note says what holds.
 */
static const char *
config_monitor_note(const struct agentconf *ac, const struct agentconf_key *k)
{
	if (ac->config_mode != AGENTCONF_MODE_MONITOR)
		return "";
	if ((strcmp(k->name, "guestconfiguration.enabled") == 0 &&
	    ac->guestconfiguration_enabled) ||
	    (strcmp(k->name, "incomingconnections.enabled") == 0 &&
	    ac->incomingconnections_enabled))
		return "  (in effect: false, config.mode is monitor)";
	if (strcmp(k->name, "extensions.allowlist") == 0 ||
	    strcmp(k->name, "extensions.blocklist") == 0)
		return "  (in effect: the monitor mode list below)";
	return "";
}

static int
config_list(struct azcm *a)
{
	const struct agentconf_key	*k;
	struct agentconf		 ac;
	json_t				*o;
	char				*v;
	int				 rc, i;

	if ((rc = config_load(a, &ac)) != AZCM_OK)
		return rc;
	if (a->json) {
		o = json_object();
		for (k = agentconf_keys; k->name != NULL; k++)
			json_object_set_new(o, k->name, config_json_value(&ac, k));
		azcm_print_json(o);
	} else {
		printf("Local configuration settings (%s/agent.conf)\n", a->config_dir);
		for (k = agentconf_keys; k->name != NULL; k++) {
			v = agentconf_get(&ac, k);
			printf("  %-28s : %s%s%s%s\n", k->name,
			    k->type == AGENTCONF_T_LIST ? "[" : "",
			    v != NULL ? v : "?",
			    k->type == AGENTCONF_T_LIST ? "]" : "",
			    config_monitor_note(&ac, k));
			free(v);
		}
		if (ac.config_mode == AGENTCONF_MODE_MONITOR) {
			printf("In monitor mode only these extensions may be "
			    "installed or changed:\n");
			for (i = 0; agentconf_monitor_extensions[i] != NULL; i++)
				printf("  %s\n", agentconf_monitor_extensions[i]);
		}
	}
	agentconf_clear(&ac);
	return AZCM_OK;
}

static int
config_get(struct azcm *a, const char *name)
{
	const struct agentconf_key	*k;
	struct agentconf		 ac;
	json_t				*o;
	char				*v;
	int				 rc = AZCM_OK;

	if ((k = config_key(name, &rc)) == NULL)
		return rc;
	if ((rc = config_load(a, &ac)) != AZCM_OK)
		return rc;
	if (a->json) {
		o = json_object();
		json_object_set_new(o, k->name, config_json_value(&ac, k));
		azcm_print_json(o);
	} else if ((v = agentconf_get(&ac, k)) != NULL) {
		printf("%s\n", v);
		free(v);
	} else
		rc = azcm_fail(AZCM_EGENERIC, "out of memory");
	agentconf_clear(&ac);
	return rc;
}

static int
config_info(struct azcm *a)
{
	const struct agentconf_key	*k;
	json_t				*arr, *o;
	char				 accepts[256];

	arr = json_array();
	for (k = agentconf_keys; k->name != NULL; k++) {
		config_key_accepts(k, accepts, sizeof(accepts));
		if (!a->json) {
			printf("%s\n    %s\n    type %s; accepts %s; default %s\n",
			    k->name, k->help, config_type_names[k->type], accepts,
			    k->def != NULL ? k->def : k->type == AGENTCONF_T_LIST ?
			    "[]" : "(unset)");
			continue;
		}
		o = json_pack("{s:s, s:s, s:s, s:s}", "key", k->name,
		    "description", k->help, "type", config_type_names[k->type],
		    "accepts", accepts);
		json_object_set_new(o, "default", k->def != NULL ?
		    json_string(k->def) : json_null());
		json_array_append_new(arr, o);
	}
	if (a->json)
		azcm_print_json(arr);
	else
		json_decref(arr);
	return AZCM_OK;
}

/* Settings that arcproxy would refuse together (it keeps the old ones). */
static int
config_conflict(const struct agentconf *ac)
{
	char	why[256];

	if (agentconf_check(ac, why, sizeof(why)) == -1)
		return azcm_fail(AZCM_ECONFLICT, "%s: set it first", why);
	return AZCM_OK;
}

/*
 * In monitor mode the extension lists are fixed (ARC-FACTS: "the lists are
 * locked"): changing them needs config.mode full first.
 */
static int
config_list_locked(const struct agentconf *ac, const struct agentconf_key *k)
{
	if (ac->config_mode != AGENTCONF_MODE_MONITOR ||
	    (strcmp(k->name, "extensions.allowlist") != 0 &&
	    strcmp(k->name, "extensions.blocklist") != 0))
		return AZCM_OK;
	return azcm_fail(AZCM_ECONFLICT, "%s is locked while config.mode is "
	    "monitor: set config.mode full first", k->name);
}

/* A file that arcproxy will read must be there when it is named, and be
 * the certificate it will be read as (as connect --ca-file checks); root
 * names only one that no other user can change. */
static int
config_path_ok(const struct agentconf *ac, const struct agentconf_key *k)
{
	const char	*path;
	struct stat	 st;
	time_t		 nb, na;
	char		 why[PATH_MAX + 128];

	if (k->type != AGENTCONF_T_PATH ||
	    (path = *FIELD(ac, k, char *const)) == NULL)
		return AZCM_OK;
	if (geteuid() == 0 && safedir_trusted_file(path, NULL, 0, why,
	    sizeof(why)) == -1)
		return azcm_fail(AZCM_EARGS, "%s: %s (root's daemons read it: "
		    "put it where only root can change it)", k->name, why);
	if (stat(path, &st) == -1)
		return azcm_fail(AZCM_EARGS, "%s: %s: %s", k->name, path,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return azcm_fail(AZCM_EARGS, "%s: %s is not a file", k->name, path);
	if (identity_cert_times(path, &nb, &na, why, sizeof(why)) == -1)
		return azcm_fail(AZCM_EARGS, "%s: %s: not a PEM certificate",
		    k->name, path);
	return AZCM_OK;
}

static int
config_change(struct azcm *a, enum config_change how, const char *name,
    const char *text)
{
	const struct agentconf_key	*k;
	struct agentconf		 ac;
	json_t				*o;
	char				 err[600], told[128], *v = NULL;
	int				 lock = -1, rc = AZCM_OK;

	memset(&ac, 0, sizeof(ac));
	if ((k = config_key(name, &rc)) == NULL)
		return rc;
	if (state_may_write(a->config_dir, how == CONFIG_CLEAR ? "config clear" :
	    "config set", err, sizeof(err)) == -1)
		return azcm_fail(AZCM_ENOTADMIN, "%s", err);
	if ((lock = state_lock(a->config_dir, err, sizeof(err))) == -1)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	if ((rc = config_load(a, &ac)) != AZCM_OK ||
	    (rc = config_list_locked(&ac, k)) != AZCM_OK)
		goto done;
	switch (how) {
	case CONFIG_SET:
		rc = agentconf_set(&ac, k, text, a->config_dir, err, sizeof(err));
		break;
	case CONFIG_ADD:
	case CONFIG_REMOVE:
		rc = agentconf_list_edit(&ac, k, text, how == CONFIG_ADD, err,
		    sizeof(err));
		break;
	case CONFIG_CLEAR:
		agentconf_reset(&ac, k);
		break;
	}
	if (rc == -1) {
		rc = azcm_fail(AZCM_EARGS, "%s", err);
		goto done;
	}
	if ((rc = config_path_ok(&ac, k)) != AZCM_OK ||
	    (rc = config_conflict(&ac)) != AZCM_OK)
		goto done;
	state_sweep_temps(a->config_dir, ARC_FILE_AGENT_CONF);
	if (agentconf_save(a->config_dir, &ac, err, sizeof(err)) == -1) {
		rc = azcm_fail(AZCM_EGENERIC, "%s", err);
		goto done;
	}
	state_unlock(lock);
	lock = -1;
	state_reload_daemons(a->run_dir, told, sizeof(told));
	if (a->json) {
		o = json_object();
		json_object_set_new(o, "key", json_string(k->name));
		json_object_set_new(o, "value", config_json_value(&ac, k));
		json_object_set_new(o, "reloaded", json_string(told));
		azcm_print_json(o);
	} else {
		v = agentconf_get(&ac, k);
		printf("%s = %s%s%s\n", k->name, v != NULL ? v : "?",
		    told[0] ? "; reloaded: " : "", told);
	}
 done:
	free(v);
	state_unlock(lock);
	agentconf_clear(&ac);
	return rc;
}

int
cmd_config(struct azcm *a)
{
	const char	*sub = a->npos > 0 ? a->pos[0] : "";
	int		 add = azcm_opt(a, AZCM_O_ADD) != NULL;
	int		 rm = azcm_opt(a, AZCM_O_REMOVE) != NULL;
	static const struct {
		const char	*name;
		int		 nargs;
		const char	*usage;
	} subs[] = {
		{ "list", 0, "config list" },
		{ "get", 1, "config get KEY" },
		{ "set", 2, "config set KEY VALUE [--add|--remove]" },
		{ "clear", 1, "config clear KEY" },
		{ "info", 0, "config info" },
	};
	size_t		 i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(subs[i].name, sub) == 0)
			break;
	if (i == sizeof(subs) / sizeof(subs[0]))
		return azcm_fail(AZCM_EARGS, "config: %s%s%s (want list, get, set, "
		    "clear or info)", sub[0] ? "unknown subcommand '" : "missing "
		    "subcommand", sub, sub[0] ? "'" : "");
	if (a->npos - 1 != subs[i].nargs)
		return azcm_fail(AZCM_EARGS, "usage: azcmagent %s", subs[i].usage);
	if ((add || rm) && strcmp(sub, "set") != 0)
		return azcm_fail(AZCM_EARGS, "--add and --remove go with config set");
	if (add && rm)
		return azcm_fail(AZCM_EARGS, "config set takes --add or --remove, "
		    "not both");
	switch (sub[0]) {
	case 'l':
		return config_list(a);
	case 'g':
		return config_get(a, a->pos[1]);
	case 's':
		return config_change(a, add ? CONFIG_ADD : rm ? CONFIG_REMOVE :
		    CONFIG_SET, a->pos[1], a->pos[2]);
	case 'c':
		return config_change(a, CONFIG_CLEAR, a->pos[1], NULL);
	default:
		return config_info(a);
	}
}
