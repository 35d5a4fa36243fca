/* cmd_show.c -- azcmagent show: the machine as it stands here, from machine.json, himds, arcproxy's /status and the pid files. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentconf.h"
#include "azcmagent.h"
#include "state.h"

#define SHOW_TIMEOUT_MS	2000

/* The resource fields, as JSON keys and as the human labels. */
static const struct {
	const char	*key;		/* in machine.json's resource */
	const char	*json;		/* in show -j */
	const char	*label;
} show_resource[] = {
	{ "name", "resourceName", "Resource Name" },
	{ "resourceGroupName", "resourceGroupName", "Resource Group Name" },
	{ "resourceId", "resourceId", "Resource Id" },
	{ "subscriptionId", "subscriptionId", "Subscription ID" },
	{ "tenantId", "tenantId", "Tenant ID" },
	{ "vmId", "vmId", "VM ID" },
	{ "location", "location", "Location" },
};

/* himds's own view: its API when it answers, else its state file. */
static json_t *
show_himds(const struct azcm *a, int *answered)
{
	struct probe_resp	 r;
	json_t			*o = NULL;
	char			 err[300];

	*answered = 0;
	if (azcm_local_get(a->himds_url, "/agentstatus", "Metadata: true",
	    SHOW_TIMEOUT_MS, &r) == 0) {
		if (r.status == 200 && r.body != NULL &&
		    (o = json_loads(r.body, 0, NULL)) != NULL && json_is_object(o))
			*answered = 1;
		else {
			json_decref(o);
			o = NULL;
		}
		probe_resp_free(&r);
	}
	if (o == NULL && state_json_load(a->state_dir, STATE_HIMDS, &o, err,
	    sizeof(err)) == -1)
		azcm_warn("%s", err);
	return o;
}

static json_t *
show_services(const struct azcm *a)
{
	json_t	*arr = json_array(), *s;
	long	 pid;
	int	 i;

	for (i = 0; state_daemons[i] != NULL; i++) {
		pid = state_daemon_pid(a->run_dir, state_daemons[i]);
		if (pid == -1 && i >= 2)
			continue;	/* extmgr, guestconfig: when they run */
		s = json_pack("{s:s, s:s}", "name", state_daemons[i], "status",
		    pid != -1 ? "running" : "stopped");
		json_object_set_new(s, "pid", pid != -1 ? json_integer(pid) :
		    json_null());
		json_array_append_new(arr, s);
	}
	return arr;
}

/* v with every object key in camelCase, as show -j's own ("last_error"
 * becomes "lastError"): arcproxy's /status writes snake_case. */
static json_t *
show_camel(json_t *v)
{
	json_t		*o, *e;
	const char	*k, *c;
	char		 name[128];
	size_t		 i, n;

	if (json_is_array(v)) {
		o = json_array();
		json_array_foreach(v, i, e)
			json_array_append_new(o, show_camel(e));
		return o;
	}
	if (!json_is_object(v))
		return json_incref(v);
	o = json_object();
	/* The loop walks by key: k itself must stay as it is. */
	json_object_foreach(v, k, e) {
		for (c = k, n = 0; *c != '\0' && n < sizeof(name) - 1; c++)
			if (*c == '_' && c[1] != '\0')
				name[n++] = (char)toupper((unsigned char)*++c);
			else
				name[n++] = *c;
		name[n] = '\0';
		json_object_set_new(o, name, show_camel(e));
	}
	return o;
}

/*
 * arcproxy as it runs: its routes, gateway and upstream proxy from its
 * /status; when it does not answer, why ("arcproxy is not running").
 */
static json_t *
show_arcproxy(const struct azcm *a, json_t *status)
{
	json_t		*o, *cfg, *routes, *r;
	char		 why[400];
	size_t		 i;

	if (status == NULL) {
		azcm_status_why(a, why, sizeof(why));
		return json_pack("{s:b, s:s}", "running", 0, "error", why);
	}
	cfg = json_object_get(status, "config");
	o = json_pack("{s:b}", "running", 1);
	json_object_set(o, "pid", json_object_get(status, "pid"));
	json_object_set(o, "configGeneration", json_object_get(cfg, "generation"));
	json_object_set(o, "configLoadedAt", json_object_get(cfg, "loaded_at"));
	json_object_set(o, "connectionType", json_object_get(status,
	    "connection_type"));
	routes = json_array();
	json_array_foreach(json_object_get(status, "routes"), i, r)
		json_array_append_new(routes, json_pack("{s:O?, s:O?}", "match",
		    json_object_get(r, "match"), "route", json_object_get(r, "route")));
	json_object_set_new(o, "routes", routes);
	json_object_set(o, "defaultRoute", json_object_get(status, "default_route"));
	json_object_set_new(o, "gateway", show_camel(json_object_get(status,
	    "gateway")));
	json_object_set(o, "upstreamProxy", json_object_get(status,
	    "upstream_proxy"));
	json_object_set(o, "proxyBypassHosts", json_object_get(status,
	    "proxy_bypass"));
	return o;
}

static void
show_human_arcproxy(json_t *p)
{
	json_t		*r;
	size_t		 i;

	if (!json_is_true(json_object_get(p, "running"))) {
		printf("arcproxy: %s\n", azcm_jstr(p, "error"));
		return;
	}
	printf("arcproxy: running (pid %lld), configuration generation %lld "
	    "loaded %s\n", json_integer_value(json_object_get(p, "pid")),
	    json_integer_value(json_object_get(p, "configGeneration")),
	    azcm_jstr(p, "configLoadedAt") ? azcm_jstr(p, "configLoadedAt") : "?");
	printf("Routes:\n");
	json_array_foreach(json_object_get(p, "routes"), i, r)
		printf("  %s -> %s\n", azcm_jstr(r, "match"), azcm_jstr(r, "route"));
	printf("  (default) -> %s\n", azcm_jstr(p, "defaultRoute") ?
	    azcm_jstr(p, "defaultRoute") : "?");
}

/* guestconfig's assignments and their last evaluation, from its state
 * file (root's: unreadable to others, then said so), and the local
 * controls that decide whether it may evaluate at all. */
static json_t *
show_guestconfig(const struct azcm *a, const struct agentconf *ac)
{
	json_t	*st = NULL, *o, *list, *e;
	char	 err[300];
	size_t	 i;
	int	 rc;

	rc = state_json_load(a->state_dir, ARC_SUBDIR_GUESTCONFIG "/"
	    ARC_FILE_GUESTCONFIG_JSON, &st, err, sizeof(err));
	o = json_pack("{s:b, s:s, s:O*, s:O*, s:s*}", "enabled",
	    ac == NULL || (ac->guestconfiguration_enabled &&
	    ac->config_mode != AGENTCONF_MODE_MONITOR),
	    "mode", ac != NULL && ac->config_mode == AGENTCONF_MODE_MONITOR ?
	    "monitor" : "full", "lastPoll", json_object_get(st, "lastPoll"),
	    "lastPollError", json_object_get(st, "lastPollError"),
	    "error", rc == -1 ? err : NULL);
	list = json_array();
	json_array_foreach(json_object_get(st, "assignments"), i, e)
		json_array_append_new(list, json_pack("{s:O*, s:O*, s:O*, s:O*, "
		    "s:O*, s:O*}", "name", json_object_get(e, "name"),
		    "assignmentType", json_object_get(e, "assignmentType"),
		    "configuration", json_object_get(e, "configurationName"),
		    "status", json_object_get(e, "status"),
		    "lastEvaluation", json_object_get(e, "lastEvaluation"),
		    "lastError", json_object_get(e, "lastError")));
	json_object_set_new(o, "assignments", list);
	json_decref(st);
	return o;
}

static void
show_human_guestconfig(json_t *g)
{
	const char	*v;
	json_t		*e;
	size_t		 i;

	printf("Guest Configuration: %s, mode %s, %zu assignment%s\n",
	    json_is_true(json_object_get(g, "enabled")) ? "enabled" :
	    "disabled by local configuration", azcm_jstr(g, "mode"),
	    json_array_size(json_object_get(g, "assignments")),
	    json_array_size(json_object_get(g, "assignments")) == 1 ? "" : "s");
	if ((v = azcm_jstr(g, "error")) != NULL)
		printf("  (%s)\n", v);
	if ((v = azcm_jstr(g, "lastPollError")) != NULL && v[0] != '\0')
		printf("  last poll: %s\n", v);
	json_array_foreach(json_object_get(g, "assignments"), i, e) {
		v = azcm_jstr(e, "lastError");
		printf("  %s (%s): %s, last evaluation %s%s%s\n",
		    azcm_jstr(e, "name"), azcm_jstr(e, "assignmentType"),
		    azcm_jstr(e, "status") ? azcm_jstr(e, "status") : "Pending",
		    azcm_jstr(e, "lastEvaluation") ? azcm_jstr(e,
		    "lastEvaluation") : "never", v != NULL && v[0] ? ": " : "",
		    v != NULL ? v : "");
	}
}

static void
show_human(json_t *o)
{
	json_t		*v, *s;
	const char	*k;
	size_t		 i, j;
	static const struct {
		const char	*json;
		const char	*label;
	} rest[] = {
		{ "cloudUrl", "Cloud URL" },
		{ "connectedAt", "Connected At" },
		{ "agentVersion", "Agent Version" },
		{ "status", "Agent Status" },
		{ "lastHeartbeat", "Agent Last Heartbeat" },
		{ "lastError", "Agent Error" },
		{ "httpsProxy", "Using HTTPS Proxy" },
		{ "connectionType", "Connection Type" },
		{ "gatewayUrl", "Gateway URL" },
		{ "gatewayState", "Gateway State" },
		{ "upstreamProxy", "Upstream Proxy" },
		{ "proxyBypass", "Proxy Bypass" },
	};

	for (i = 0; i < sizeof(show_resource) / sizeof(show_resource[0]); i++)
		if ((k = azcm_jstr(o, show_resource[i].json)) != NULL)
			printf("%s: %s\n", show_resource[i].label, k);
	if ((v = json_object_get(o, "tags")) != NULL && json_object_size(v) > 0) {
		printf("Tags:");
		i = 0;
		json_object_foreach(v, k, s)
			printf("%s %s=%s", i++ ? "," : "", k,
			    json_is_string(s) ? json_string_value(s) : "?");
		printf("\n");
	}
	for (i = 0; i < sizeof(rest) / sizeof(rest[0]); i++) {
		v = json_object_get(o, rest[i].json);
		if (json_is_string(v))
			printf("%s: %s\n", rest[i].label, json_string_value(v));
		else if (json_is_array(v)) {
			printf("%s:", rest[i].label);
			json_array_foreach(v, j, s)
				printf("%s %s", j > 0 ? "," : "", json_string_value(s));
			printf("\n");
		}
		else if (json_is_null(v) && (strcmp(rest[i].json, "upstreamProxy") == 0 ||
		    strcmp(rest[i].json, "lastHeartbeat") == 0))
			printf("%s: (none)\n", rest[i].label);
	}
	show_human_arcproxy(json_object_get(o, "arcproxy"));
	show_human_guestconfig(json_object_get(o, "guestConfiguration"));
	printf("Services:\n");
	json_array_foreach(json_object_get(o, "services"), i, s) {
		printf("  %s: %s", azcm_jstr(s, "name"), azcm_jstr(s, "status"));
		if (json_is_integer(json_object_get(s, "pid")))
			printf(" (pid %lld)", json_integer_value(json_object_get(s, "pid")));
		printf("\n");
	}
	if ((k = azcm_jstr(o, "hint")) != NULL)
		printf("\n%s\n", k);
}

static void
set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, v != NULL ? json_string(v) : json_null());
}

int
cmd_show(struct azcm *a)
{
	struct agentconf	 ac;
	json_t			*o, *pr, *machine = NULL, *himds, *pxst, *resource, *gw;
	json_t			*bypass;
	const char		*status, *hint = NULL;
	char			 err[600], proxy[AZCM_URL_MAX], state[128];
	int			 answered, have_conf;
	size_t			 i;

	if (a->npos != 0)
		return azcm_fail(AZCM_EARGS, "show takes no argument '%s'", a->pos[0]);
	if (state_json_load(a->state_dir, STATE_MACHINE, &machine, err,
	    sizeof(err)) == -1)
		azcm_warn("%s", err);
	if (!(have_conf = agentconf_load(a->config_dir, &ac, err, sizeof(err)) == 0))
		azcm_warn("%s", err);
	himds = show_himds(a, &answered);
	pxst = azcm_status(a);
	resource = json_object_get(machine, "resource");

	o = json_object();
	for (i = 0; i < sizeof(show_resource) / sizeof(show_resource[0]); i++)
		set_str(o, show_resource[i].json, azcm_jstr(resource,
		    show_resource[i].key));
	json_object_set_new(o, "tags", json_is_object(json_object_get(resource,
	    "tags")) ? json_deep_copy(json_object_get(resource, "tags")) :
	    json_object());
	set_str(o, "cloudUrl", azcm_jstr(machine, "cloudUrl"));
	set_str(o, "connectedAt", azcm_jstr(machine, "connectedAt"));
	set_str(o, "agentVersion", AZCM_VERSION);
	if (machine == NULL) {
		status = "Disconnected";
		hint = "This machine is not connected. Connect it with: azcmagent "
		    "connect --cloud-url URL --gateway-url URL --ca-file FILE "
		    "--onboarding-token-file FILE --resource-name NAME";
	} else if (answered && azcm_jstr(himds, "status") != NULL)
		status = azcm_jstr(himds, "status");
	else {
		status = "Disconnected";
		hint = "himds is not running (or does not answer on its local "
		    "API): start it to send heartbeats";
	}
	set_str(o, "status", status);
	set_str(o, "lastHeartbeat", azcm_jstr(himds, "lastHeartbeat"));
	set_str(o, "lastError", azcm_jstr(himds, "lastError") != NULL &&
	    azcm_jstr(himds, "lastError")[0] != '\0' ?
	    azcm_jstr(himds, "lastError") : NULL);
	azcm_display_proxy(a->proxy_url, proxy, sizeof(proxy));
	set_str(o, "httpsProxy", proxy);
	set_str(o, "connectionType", have_conf ? (ac.connection_type ==
	    AGENTCONF_GATEWAY ? "gateway" : "direct") : NULL);
	set_str(o, "gatewayUrl", have_conf ? ac.gateway_url : NULL);
	gw = json_object_get(pxst, "gateway");
	if (azcm_jstr(gw, "state") != NULL) {
		snprintf(state, sizeof(state), "%s%s%s (%lld endpoints)%s%s",
		    azcm_jstr(gw, "state"), azcm_jstr(gw, "protocol") ? ", " : "",
		    azcm_jstr(gw, "protocol") ? azcm_jstr(gw, "protocol") : "",
		    json_integer_value(json_object_get(gw, "endpoints")),
		    azcm_jstr(gw, "last_error") && azcm_jstr(gw, "last_error")[0] ?
		    ": " : "", azcm_jstr(gw, "last_error") &&
		    azcm_jstr(gw, "last_error")[0] ? azcm_jstr(gw, "last_error") : "");
		set_str(o, "gatewayState", state);
	} else if (pxst == NULL && have_conf && ac.connection_type ==
	    AGENTCONF_GATEWAY)
		set_str(o, "gatewayState", "unknown: arcproxy is not running");
	else
		set_str(o, "gatewayState", NULL);
	set_str(o, "upstreamProxy", have_conf ? ac.proxy_url : NULL);
	/* Without proxy.url, arcproxy may use its environment's HTTPS_PROXY. */
	if ((!have_conf || ac.proxy_url == NULL) &&
	    azcm_jstr(pxst, "upstream_proxy") != NULL &&
	    azcm_jstr(pxst, "upstream_proxy_from") != NULL) {
		snprintf(proxy, sizeof(proxy), "%s (%s of arcproxy's environment)",
		    azcm_jstr(pxst, "upstream_proxy"),
		    azcm_jstr(pxst, "upstream_proxy_from"));
		set_str(o, "upstreamProxy", proxy);
	}
	if (have_conf && ac.proxy_bypass.n > 0) {
		bypass = json_array();
		for (i = 0; i < (size_t)ac.proxy_bypass.n; i++)
			json_array_append_new(bypass,
			    json_string(ac.proxy_bypass.items[i]));
		json_object_set_new(o, "proxyBypass", bypass);
	}
	json_object_set_new(o, "arcproxy", show_arcproxy(a, pxst));
	json_object_set_new(o, "services", show_services(a));
	json_object_set_new(o, "guestConfiguration", show_guestconfig(a,
	    have_conf ? &ac : NULL));
	if (hint != NULL)
		set_str(o, "hint", hint);
	if (a->json)
		azcm_print_json(o);
	else {
		/* Others wrote most of it (the cloud, himds's and arcproxy's
		 * ports, which anyone may bind while they are down). */
		pr = azcm_json_printable(o);
		json_decref(o);
		show_human(pr);
		json_decref(pr);
	}
	if (have_conf)
		agentconf_clear(&ac);
	json_decref(machine);
	json_decref(himds);
	json_decref(pxst);
	return AZCM_OK;
}
