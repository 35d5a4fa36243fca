/* cmd_connect.c -- azcmagent connect and disconnect: the identity made here, registered through arcproxy and the gateway, stored whole or not at all. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentconf.h"
#include "atomicfile.h"
#include "azcmagent.h"
#include "httpc.h"
#include "identity.h"
#include "safedir.h"
#include "state.h"
#include "url.h"

#define CONNECT_TOKEN_MAX	4096
#define CONNECT_TIMEOUT_MS	30000L
#define CONNECT_RELOAD_MS	15000	/* arcproxy told: a loaded machine may be slow */
#define CONNECT_UNTOLD_MS	2000	/* no pid file: nobody was told to reload */
#define CONNECT_HIMDS_MS	5000	/* a while for himds to take the identity */
#define CONNECT_CONF_MAX	(1 << 20)

struct connect {
	char			 cloud_url[AZCM_URL_MAX];	/* no trailing slash */
	char			 gateway_url[AZCM_URL_MAX];
	char			 ca_file[PATH_MAX];		/* absolute */
	char			 token[CONNECT_TOKEN_MAX + 1];
	const char		*name;
	const char		*location;	/* or NULL */
	struct args_tags	 tags;		/* n == 0 when none */
	int			 lock;		/* on the config dir, -1 when not held */
	int			 conf_changed;	/* agent.conf holds the gateway now */
	char			*old_conf;	/* agent.conf as it was; NULL: there was none */
	size_t			 old_len;
	long			 proxy_pid;	/* -1: arcproxy runs without a pid file */
	EVP_PKEY		*key;
	char			*key_pem;
	size_t			 key_len;
	char			*csr;
	json_t			*answer;	/* the register call's body */
	int			 registered;	/* the cloud answered register with 2xx */
	sigset_t		 oldmask;	/* before the transaction blocked signals */
};

/* The "message" of a cloud error body, else the body's start. */
static void
cloud_error(const char *body, char *out, size_t len)
{
	json_t		*o;
	const char	*m = NULL;

	if ((o = json_loads(body != NULL ? body : "", 0, NULL)) != NULL)
		m = azcm_jstr(json_object_get(o, "error"), "message");
	snprintf(out, len, "%s", m != NULL ? m : body != NULL && body[0] ? body :
	    "(no message)");
	out[strcspn(out, "\r\n")] = '\0';
	json_decref(o);
}

static void
cloud_url_copy(const char *url, char *out, size_t len)
{
	size_t	n;

	snprintf(out, len, "%s", url);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

/*
 * DELETE /machines/{name} with the machine's certificate, through arcproxy:
 * 0, or -1 with resp->error.  The certificate and key are in himds's
 * folder, so libcurl gets them as /proc/self/fd/N of files opened here
 * without following a link (1 with err when they are not plain files).
 */
static int
cloud_delete(const struct azcm *a, const char *cloud_url, const char *name,
    const char *ca_file, struct httpc_resp *resp, char *err, size_t errlen)
{
	struct httpc_req	q;
	char			url[AZCM_URL_MAX + 128], cert[64], key[64];
	int			cfd, kfd = -1, rc = 1;

	if ((cfd = state_open_file(a->state_dir, STATE_CERT, err,
	    errlen)) == -1 || (kfd = state_open_file(a->state_dir, STATE_KEY,
	    err, errlen)) == -1)
		goto done;
	snprintf(url, sizeof(url), "%s/machines/%s", cloud_url, name);
	snprintf(cert, sizeof(cert), "/proc/self/fd/%d", cfd);
	snprintf(key, sizeof(key), "/proc/self/fd/%d", kfd);
	memset(&q, 0, sizeof(q));
	q.method = "DELETE";
	q.url = url;
	q.proxy = a->proxy_url;
	q.ca_file = ca_file;
	q.cert_file = cert;
	q.key_file = key;
	q.timeout_ms = CONNECT_TIMEOUT_MS;
	rc = httpc_request_sync(&q, resp);
 done:
	if (cfd != -1)
		close(cfd);
	if (kfd != -1)
		close(kfd);
	return rc;
}

/* The cloud takes JSON: text that jansson can carry. */
static int
connect_utf8(const char *s)
{
	json_t	*j;

	if ((j = json_string(s)) == NULL)
		return 0;
	json_decref(j);
	return 1;
}

static int
connect_args(struct azcm *a, struct connect *c)
{
	static const enum azcm_opt need[] = { AZCM_O_CLOUD_URL, AZCM_O_GATEWAY_URL,
	    AZCM_O_CA_FILE, AZCM_O_TOKEN_FILE, AZCM_O_NAME };
	static const char *const need_names[] = { "--cloud-url", "--gateway-url",
	    "--ca-file", "--onboarding-token-file", "--resource-name" };
	const char	*v;
	char		 host[256], err[300], *text;
	uint16_t	 port;
	time_t		 nb, na;
	size_t		 i, len;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (azcm_opt(a, need[i]) == NULL || azcm_opt(a, need[i])[0] == '\0')
			return azcm_fail(AZCM_EARGS, "connect needs %s", need_names[i]);
	v = azcm_opt(a, AZCM_O_CLOUD_URL);
	if (url_parse_authority(v, "https", 443, host, sizeof(host), &port) == -1)
		return azcm_fail(AZCM_EARGS, "--cloud-url \"%s\" is not like "
		    "https://management.example.com[:port]", v);
	cloud_url_copy(v, c->cloud_url, sizeof(c->cloud_url));
	v = azcm_opt(a, AZCM_O_GATEWAY_URL);
	if (url_parse_authority(v, "https", 443, host, sizeof(host), &port) == -1)
		return azcm_fail(AZCM_EARGS, "--gateway-url \"%s\" is not like "
		    "https://gw.example.com[:port]", v);
	cloud_url_copy(v, c->gateway_url, sizeof(c->gateway_url));
	v = azcm_opt(a, AZCM_O_CA_FILE);
	if (realpath(v, c->ca_file) == NULL)
		return azcm_fail(AZCM_EARGS, "--ca-file %s: %s", v, strerror(errno));
	/* Root's daemons read it from here on: only root may change it. */
	if (geteuid() == 0 && safedir_trusted_file(c->ca_file, NULL, 0, err,
	    sizeof(err)) == -1)
		return azcm_fail(AZCM_EARGS, "--ca-file %s: %s (root's daemons "
		    "read it: put it where only root can change it)", v, err);
	if (identity_cert_times(c->ca_file, &nb, &na, err, sizeof(err)) == -1)
		return azcm_fail(AZCM_EARGS, "--ca-file %s: not a PEM certificate",
		    c->ca_file);
	c->name = azcm_opt(a, AZCM_O_NAME);
	if (!args_name_ok(c->name))
		return azcm_fail(AZCM_EARGS, "--resource-name \"%s\": 1-63 letters, "
		    "digits, '-', '_' or '.', starting with a letter or digit",
		    c->name);
	if ((c->location = azcm_opt(a, AZCM_O_LOCATION)) != NULL &&
	    !args_location_ok(c->location))
		return azcm_fail(AZCM_EARGS, "--location \"%s\": letters and digits, "
		    "like eastus", c->location);
	if ((v = azcm_opt(a, AZCM_O_TAGS)) != NULL &&
	    args_tags_parse(v, &c->tags, err, sizeof(err)) == -1)
		return azcm_fail(AZCM_EARGS, "--tags: %s", err);
	v = azcm_opt(a, AZCM_O_TOKEN_FILE);
	if ((text = atomicfile_read(v, CONNECT_TOKEN_MAX, &len, err,
	    sizeof(err))) == NULL)
		return azcm_fail(AZCM_EARGS, "--onboarding-token-file: %s", err);
	while (len > 0 && strchr(" \t\r\n", text[len - 1]) != NULL)
		text[--len] = '\0';
	snprintf(c->token, sizeof(c->token), "%s", text + strspn(text, " \t\r\n"));
	free(text);
	if (c->token[0] == '\0')
		return azcm_fail(AZCM_EARGS, "--onboarding-token-file %s is empty", v);
	if (!connect_utf8(c->token))
		return azcm_fail(AZCM_EARGS, "--onboarding-token-file %s is not text", v);
	for (i = 0; i < (size_t)c->tags.n; i++)
		if (!connect_utf8(c->tags.tag[i].key) ||
		    !connect_utf8(c->tags.tag[i].value))
			return azcm_fail(AZCM_EARGS, "--tags: \"%s\" is not UTF-8 "
			    "text", c->tags.tag[i].key);
	return AZCM_OK;
}

/* Until the end of the transaction a ^C or a TERM waits: it cannot cut
 * the registration from the files that record it. */
static void
block_signals(sigset_t *oldmask)
{
	sigset_t	set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, oldmask);
}

static void
unblock_signals(const sigset_t *oldmask)
{
	struct timespec	zero = { 0, 0 };
	sigset_t	set;
	int		sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	while ((sig = sigtimedwait(&set, NULL, &zero)) > 0)
		azcm_warn("%s came during the operation, which finished first",
		    strsignal(sig));
	sigprocmask(SIG_SETMASK, oldmask, NULL);
}

/* Waits up to ms until arcproxy's /status shows the gateway from agent.conf:
 * 0 when it does, -1 when it never did, 1 when there is no admin API to ask. */
static int
connect_wait_reload(const struct azcm *a, const char *gateway_url, int ms)
{
	struct timespec	 pause = { 0, 50 * 1000 * 1000 };
	json_t		*h;
	int		 i, seen = 0, done = 0;

	for (i = 0; i < ms / 50 && !done; i++) {
		if ((h = azcm_status(a)) != NULL) {
			seen = 1;
			done = strcmp(azcm_jstr(h, "connection_type") ?
			    azcm_jstr(h, "connection_type") : "", "gateway") == 0 &&
			    azcm_jstr(json_object_get(h, "gateway"), "url") != NULL &&
			    strcmp(azcm_jstr(json_object_get(h, "gateway"), "url"),
			    gateway_url) == 0;
			json_decref(h);
		} else if (!seen && i >= 10)
			return 1;	/* no admin API: half a second must do */
		if (!done)
			nanosleep(&pause, NULL);
	}
	return done ? 0 : -1;
}

/* Waits (a little) until himds's /agentstatus names the new resource, so
 * that a `show` right after `connect` does not find it on the old identity. */
static int
connect_wait_himds(const struct azcm *a, const char *resource_id)
{
	struct timespec		 pause = { 0, 50 * 1000 * 1000 };
	struct probe_resp	 r;
	json_t			*o;
	const char		*id;
	int			 i, done = 0;

	for (i = 0; i < CONNECT_HIMDS_MS / 50 && !done; i++) {
		if (i > 0)
			nanosleep(&pause, NULL);
		if (azcm_local_get(a->himds_url, "/agentstatus", "Metadata: true",
		    1000, &r) == -1)
			continue;
		if (r.body != NULL && (o = json_loads(r.body, 0, NULL)) != NULL) {
			id = azcm_jstr(o, "resourceId");
			done = id != NULL && resource_id != NULL &&
			    strcmp(id, resource_id) == 0;
			json_decref(o);
		}
		probe_resp_free(&r);
	}
	return done ? 0 : -1;
}

/* agent.conf in gateway mode, arcproxy told; the old text kept to undo it. */
static int
connect_conf_switch(struct azcm *a, struct connect *c)
{
	struct agentconf	 ac;
	char			 path[PATH_MAX], err[600], told[128];
	int			 rc;

	snprintf(path, sizeof(path), "%s/" ARC_FILE_AGENT_CONF, a->config_dir);
	if (access(path, F_OK) == 0 && (c->old_conf = atomicfile_read(path,
	    CONNECT_CONF_MAX, &c->old_len, err, sizeof(err))) == NULL)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	if (agentconf_load(a->config_dir, &ac, err, sizeof(err)) == -1)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	if (agentconf_set(&ac, agentconf_key_find("connection.type"), "gateway",
	    a->config_dir, err, sizeof(err)) == -1 ||
	    agentconf_set(&ac, agentconf_key_find("gateway.url"), c->gateway_url,
	    a->config_dir, err, sizeof(err)) == -1 ||
	    agentconf_set(&ac, agentconf_key_find("gateway.ca_file"), c->ca_file,
	    a->config_dir, err, sizeof(err)) == -1) {
		agentconf_clear(&ac);
		return azcm_fail(AZCM_EARGS, "%s", err);
	}
	state_sweep_temps(a->config_dir, ARC_FILE_AGENT_CONF);
	rc = agentconf_save(a->config_dir, &ac, err, sizeof(err));
	agentconf_clear(&ac);
	if (rc == -1)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	c->conf_changed = 1;
	state_reload_daemons(a->run_dir, told, sizeof(told));
	if (connect_wait_reload(a, c->gateway_url, c->proxy_pid == -1 ?
	    CONNECT_UNTOLD_MS : CONNECT_RELOAD_MS) == -1)
		return azcm_fail(AZCM_ENOPROXY, "arcproxy (%s) did not take the "
		    "gateway settings%s%s%s", a->admin_url, c->proxy_pid == -1 ?
		    ": it has no pid file in the run dir (" : "",
		    c->proxy_pid == -1 ? a->run_dir : "",
		    c->proxy_pid == -1 ? ") to be told by" : "");
	return AZCM_OK;
}

/* agent.conf back as it was before connect, and the daemons told. */
static void
connect_conf_restore(struct azcm *a, struct connect *c)
{
	char	path[PATH_MAX], err[300], told[128];

	if (!c->conf_changed)
		return;
	snprintf(path, sizeof(path), "%s/" ARC_FILE_AGENT_CONF, a->config_dir);
	if (c->old_conf == NULL) {
		if (unlink(path) == -1 && errno != ENOENT)
			azcm_warn("%s: %s", path, strerror(errno));
	} else if (atomicfile_write(path, c->old_conf, c->old_len, 0644, err,
	    sizeof(err)) == -1)
		azcm_warn("could not put agent.conf back: %s", err);
	c->conf_changed = 0;
	state_reload_daemons(a->run_dir, told, sizeof(told));
}

static int
connect_register(struct azcm *a, struct connect *c)
{
	struct httpc_req	 q;
	struct httpc_resp	 resp;
	json_t			*body, *tags;
	char			 url[AZCM_URL_MAX + 32], err[300], *text;
	int			 i, rc;

	if ((c->key = identity_keygen(err, sizeof(err))) == NULL ||
	    (c->key_pem = identity_key_pem(c->key, &c->key_len)) == NULL ||
	    (c->csr = identity_csr_pem(c->key, c->name, err, sizeof(err))) == NULL)
		return azcm_fail(AZCM_EGENERIC, "%s", c->key_pem == NULL &&
		    c->key != NULL ? "out of memory" : err);
	if ((body = json_pack("{s:s, s:s, s:s, s:s}", "onboardingToken", c->token,
	    "csr", c->csr, "name", c->name, "agentVersion", AZCM_VERSION)) == NULL)
		return azcm_fail(AZCM_EARGS, "the onboarding token is not UTF-8 text");
	if (c->location != NULL)
		json_object_set_new(body, "location", json_string(c->location));
	if (c->tags.n > 0) {
		tags = json_object();
		for (i = 0; i < c->tags.n; i++)
			if (json_object_set_new(tags, c->tags.tag[i].key,
			    json_string(c->tags.tag[i].value)) == -1) {
				json_decref(tags);
				json_decref(body);
				return azcm_fail(AZCM_EARGS, "--tags: \"%s\" is not "
				    "UTF-8 text", c->tags.tag[i].key);
			}
		json_object_set_new(body, "tags", tags);
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return azcm_fail(AZCM_EGENERIC, "out of memory");
	snprintf(url, sizeof(url), "%s/machines/register", c->cloud_url);
	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.url = url;
	q.body = text;
	q.body_len = strlen(text);
	q.proxy = a->proxy_url;
	q.ca_file = c->ca_file;
	q.timeout_ms = CONNECT_TIMEOUT_MS;
	/* -1: no answer from the cloud (arcproxy or the gateway refused the
	 * tunnel, or nothing came), whatever status curl kept. */
	if (httpc_request_sync(&q, &resp) == -1)
		resp.status = 0;
	explicit_bzero(text, strlen(text));	/* it holds the token */
	free(text);
	cloud_error(resp.body, err, sizeof(err));
	switch (resp.status) {
	case 0:
		rc = azcm_fail(AZCM_ENETWORK, "cannot reach %s through arcproxy "
		    "(%s) and the gateway: %s", c->cloud_url, a->proxy_url,
		    resp.error);
		break;
	case 200:
	case 201:
		c->registered = 1;
		if ((c->answer = json_loads(resp.body, 0, NULL)) == NULL)
			rc = azcm_fail(AZCM_ECREATE, "%s: register answered %ld with "
			    "no JSON", c->cloud_url, resp.status);
		else
			rc = AZCM_OK;
		break;
	case 400:
		rc = azcm_fail(AZCM_EARGS, "the cloud refused the registration: %s",
		    err);
		break;
	case 401:
	case 403:
		rc = azcm_fail(AZCM_ECREDENTIALS, "the cloud refused the onboarding "
		    "token: %s", err);
		break;
	case 409:
		/* Said once: the cloud's own message says the same. */
		rc = azcm_fail(AZCM_EEXISTS, "a machine named %s is registered "
		    "already in the cloud (HTTP 409): disconnect or delete it "
		    "there, or choose another --resource-name", c->name);
		break;
	default:
		rc = azcm_fail(AZCM_ECREATE, "the cloud did not register %s (HTTP "
		    "%ld): %s", c->name, resp.status, err);
		break;
	}
	free(resp.body);
	return rc;
}

/* machine.key, machine.crt, then machine.json (which says "connected"). */
static int
connect_store(struct azcm *a, struct connect *c)
{
	const char		*cert;
	json_t			*resource, *machine;
	char			 err[300], now[32], *text = NULL;
	int			 stage = 0, rc = AZCM_OK;

	cert = azcm_jstr(c->answer, "certificate");
	resource = json_object_get(c->answer, "resource");
	if (cert == NULL || !json_is_object(resource))
		return azcm_fail(AZCM_ECREATE, "the cloud's answer has no "
		    "certificate or resource");
	if (!identity_cert_matches(cert, c->key))
		return azcm_fail(AZCM_ECREATE, "the certificate from the cloud is not "
		    "for the key made here");
	state_rfc3339(time(NULL), now, sizeof(now));
	machine = json_object();
	json_object_set(machine, "resource", resource);
	json_object_set_new(machine, "cloudUrl", json_string(c->cloud_url));
	json_object_set_new(machine, "caFile", json_string(c->ca_file));
	json_object_set_new(machine, "connectedAt", json_string(now));
	json_object_set(machine, "heartbeatIntervalSeconds", json_object_get(c->answer,
	    "heartbeatIntervalSeconds") != NULL ? json_object_get(c->answer,
	    "heartbeatIntervalSeconds") : json_integer(300));
	text = json_dumps(machine, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(machine);
	if (text == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	if (state_write_key(a->state_dir, c->key_pem, c->key_len, err,
	    sizeof(err)) == -1)
		goto fail;
	stage = 1;
	if (state_write(a->state_dir, STATE_CERT, cert, strlen(cert), 0644, err,
	    sizeof(err)) == -1)
		goto fail;
	if (state_write(a->state_dir, STATE_MACHINE, text, strlen(text), 0644, err,
	    sizeof(err)) == -1)
		goto fail;
	free(text);
	return AZCM_OK;
 fail:
	rc = azcm_fail(AZCM_EGENERIC, "cannot store the identity: %s", err);
	if (stage > 0 && state_identity_remove(a->state_dir, err, sizeof(err)) == -1)
		azcm_warn("%s", err);
	free(text);
	return rc;
}

/*
 * Whatever failed after the cloud registered the machine: the cloud must not
 * keep a machine that this one cannot be (the next connect would get 44).
 * The registration is deleted with the certificate just issued and the key
 * made here, both from memory, since storing them may be what failed; when
 * that cannot be done the operator is told that the machine stays and how
 * to remove it.
 */
static void
connect_unregister(struct azcm *a, struct connect *c)
{
	struct httpc_req	 q;
	struct httpc_resp	 resp;
	const char		*cert = azcm_jstr(c->answer, "certificate");
	char			 url[AZCM_URL_MAX + 128], why[400], msg[300];

	memset(&resp, 0, sizeof(resp));
	if (cert == NULL)
		snprintf(why, sizeof(why), "the cloud's answer has no certificate "
		    "to delete it with");
	else if (!identity_cert_matches(cert, c->key))
		snprintf(why, sizeof(why), "the certificate from the cloud is not "
		    "for the key made here, so it cannot delete it");
	else {
		snprintf(url, sizeof(url), "%s/machines/%s", c->cloud_url, c->name);
		memset(&q, 0, sizeof(q));
		q.method = "DELETE";
		q.url = url;
		q.proxy = a->proxy_url;
		q.ca_file = c->ca_file;
		q.cert_pem = cert;
		q.cert_pem_len = strlen(cert);
		q.key_pem = c->key_pem;
		q.key_pem_len = c->key_len;
		q.timeout_ms = CONNECT_TIMEOUT_MS;
		if (httpc_request_sync(&q, &resp) == -1)
			snprintf(why, sizeof(why), "the delete did not reach it: %s",
			    resp.error);
		else if (resp.status == 200 || resp.status == 204 ||
		    resp.status == 404) {
			free(resp.body);
			return;
		} else {
			cloud_error(resp.body, msg, sizeof(msg));
			snprintf(why, sizeof(why), "the delete got HTTP %ld: %s",
			    resp.status, msg);
		}
		free(resp.body);
	}
	azcm_warn("%s stays registered in the cloud (%s): delete the resource %s "
	    "there (its portal, or DELETE /operator/machines/%s on cloudsim's "
	    "operator API) before connecting with that name again", c->name,
	    why, c->name, c->name);
}

/* The package-signing CA of the register answer, for extmgr and
 * guestconfig: <config>/packages-ca.crt, root's 0644, atomic. */
static void
connect_packages_ca(struct azcm *a, struct connect *c)
{
	const char	*pem = azcm_jstr(c->answer, "packageSigningCertificates");
	char		 path[4096], err[300];

	if (pem == NULL || strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL) {
		azcm_warn("the cloud sent no package-signing certificate: "
		    "extensions cannot be verified");
		return;
	}
	snprintf(path, sizeof(path), "%s/packages-ca.crt", a->config_dir);
	if (atomicfile_write(path, pem, strlen(pem), 0644, err,
	    sizeof(err)) == -1)
		azcm_warn("%s", err);
}

static void
connect_print(struct azcm *a, struct connect *c, const char *told)
{
	json_t		*resource = json_object_get(c->answer, "resource"), *o;
	const char	*id = azcm_jstr(resource, "resourceId");
	char		 idbuf[512];

	if (a->json) {
		o = json_object();
		json_object_set_new(o, "status", json_string("Connected"));
		json_object_set_new(o, "resourceName", json_string(c->name));
		json_object_set(o, "resource", resource);
		json_object_set_new(o, "gatewayUrl", json_string(c->gateway_url));
		json_object_set_new(o, "reloaded", json_string(told));
		azcm_print_json(o);
		return;
	}
	printf("Connected %s as %s\n  through arcproxy (%s) and the gateway %s\n",
	    c->name, id != NULL ? azcm_printable(id, idbuf, sizeof(idbuf)) :
	    "(no resource id)", a->proxy_url,
	    c->gateway_url);
	if (told[0] != '\0')
		printf("  reloaded: %s\n", told);
}

static void
connect_free(struct connect *c)
{
	args_tags_clear(&c->tags);
	explicit_bzero(c->token, sizeof(c->token));
	if (c->key_pem != NULL) {
		explicit_bzero(c->key_pem, c->key_len);
		free(c->key_pem);
	}
	EVP_PKEY_free(c->key);
	free(c->csr);
	free(c->old_conf);
	json_decref(c->answer);
	state_unlock(c->lock);
}

int
cmd_connect(struct azcm *a)
{
	static struct connect	 c;	/* large: the token */
	char			 err[600], files[128], told[128];
	int			 rc;

	memset(&c, 0, sizeof(c));
	c.lock = -1;
	if (a->npos != 0)
		return azcm_fail(AZCM_EARGS, "connect takes no argument '%s'",
		    a->pos[0]);
	if ((rc = connect_args(a, &c)) != AZCM_OK)
		goto done;
	if (state_may_write(a->config_dir, "connect", err, sizeof(err)) == -1 ||
	    state_may_write(a->state_dir, "connect", err, sizeof(err)) == -1) {
		rc = azcm_fail(AZCM_ENOTADMIN, "%s", err);
		goto done;
	}
	if ((c.lock = state_lock(a->config_dir, err, sizeof(err))) == -1) {
		rc = azcm_fail(AZCM_EGENERIC, "%s", err);
		goto done;
	}
	state_identity_files(a->state_dir, files, sizeof(files));
	if (files[0] != '\0') {
		rc = azcm_fail(AZCM_ECONNECTED, "already connected (%s in %s): "
		    "azcmagent disconnect first", files, a->state_dir);
		goto done;
	}
	if (!azcm_proxy_alive(a, &c.proxy_pid)) {
		rc = azcm_fail(AZCM_ENOPROXY, "arcproxy is not running (no %s/"
		    "arcproxy.pid, nothing on %s): start it first", a->run_dir,
		    a->proxy_url);
		goto done;
	}
	block_signals(&c.oldmask);
	if ((rc = connect_conf_switch(a, &c)) == AZCM_OK &&
	    (rc = connect_register(a, &c)) == AZCM_OK)
		rc = connect_store(a, &c);
	if (rc != AZCM_OK) {
		/* Through arcproxy in gateway mode: before agent.conf goes back. */
		if (c.registered)
			connect_unregister(a, &c);
		connect_conf_restore(a, &c);
	} else {
		connect_packages_ca(a, &c);
		state_reload_daemons(a->run_dir, told, sizeof(told));
		if (state_daemon_pid(a->run_dir, "himds") == -1)
			azcm_warn("himds is not running: no heartbeat until it starts");
		else if (connect_wait_himds(a, azcm_jstr(json_object_get(c.answer,
		    "resource"), "resourceId")) == -1)
			azcm_warn("himds (%s) has not taken the new identity yet",
			    a->himds_url);
		connect_print(a, &c, told);
	}
	unblock_signals(&c.oldmask);
 done:
	connect_free(&c);
	return rc;
}

int
cmd_disconnect(struct azcm *a)
{
	struct httpc_resp	 resp;
	json_t			*machine = NULL, *o;
	const char		*name = NULL, *cloud = NULL, *ca = NULL;
	char			 err[600], files[128], told[128];
	int			 force = azcm_opt(a, AZCM_O_FORCE_LOCAL) != NULL;
	sigset_t		 oldmask;
	long			 pid;
	int			 lock = -1, got, blocked = 0, rc = AZCM_OK;

	memset(&resp, 0, sizeof(resp));
	if (a->npos != 0)
		return azcm_fail(AZCM_EARGS, "disconnect takes no argument '%s'",
		    a->pos[0]);
	if (state_may_write(a->state_dir, "disconnect", err, sizeof(err)) == -1)
		return azcm_fail(AZCM_ENOTADMIN, "%s", err);
	if ((lock = state_lock(a->config_dir, err, sizeof(err))) == -1)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	state_identity_files(a->state_dir, files, sizeof(files));
	if (files[0] == '\0') {
		rc = azcm_fail(AZCM_EGENERIC, "not connected: no identity in %s",
		    a->state_dir);
		goto done;
	}
	got = state_json_load(a->state_dir, STATE_MACHINE, &machine, err,
	    sizeof(err));
	if (got == 1) {
		name = azcm_jstr(json_object_get(machine, "resource"), "name");
		cloud = azcm_jstr(machine, "cloudUrl");
		ca = azcm_jstr(machine, "caFile");
	}
	if (!force && (name == NULL || cloud == NULL)) {
		rc = azcm_fail(AZCM_EGENERIC, "%s: %s; azcmagent disconnect "
		    "--force-local-only removes %s", a->state_dir, got == -1 ? err :
		    "no machine.json with the resource name and cloudUrl", files);
		goto done;
	}
	/* The cloud is asked through arcproxy: down, it is 4, as connect. */
	if (!force && !azcm_proxy_alive(a, &pid)) {
		rc = azcm_fail(AZCM_ENOPROXY, "arcproxy is not running (no %s/"
		    "arcproxy.pid, nothing on %s): start it, or "
		    "--force-local-only removes the identity here only",
		    a->run_dir, a->proxy_url);
		goto done;
	}
	block_signals(&oldmask);
	blocked = 1;
	if (!force) {
		if ((got = cloud_delete(a, cloud, name, ca, &resp, err,
		    sizeof(err))) == 1) {
			rc = azcm_fail(AZCM_EGENERIC, "%s; the identity stays "
			    "(--force-local-only removes it)", err);
			goto done;
		}
		if (got == -1)
			resp.status = 0;
		cloud_error(resp.body, err, sizeof(err));
		if (resp.status == 0) {
			rc = azcm_fail(AZCM_ENETWORK, "cannot reach %s through arcproxy "
			    "(%s): %s; the identity stays (--force-local-only removes "
			    "it here only)", cloud, a->proxy_url, resp.error);
			goto done;
		}
		if (resp.status == 401 || resp.status == 403) {
			rc = azcm_fail(AZCM_ECREDENTIALS, "the cloud refused this "
			    "machine's certificate: %s (deleted there already? "
			    "--force-local-only removes the identity here)", err);
			goto done;
		}
		if (resp.status != 200 && resp.status != 204 && resp.status != 404) {
			rc = azcm_fail(AZCM_EDELETE, "the cloud did not delete %s "
			    "(HTTP %ld): %s", name, resp.status, err);
			goto done;
		}
	}
	if (state_identity_remove(a->state_dir, err, sizeof(err)) == -1) {
		rc = azcm_fail(AZCM_EGENERIC, "%s", err);
		goto done;
	}
	state_reload_daemons(a->run_dir, told, sizeof(told));
	if (force)
		azcm_warn("the resource%s%s stays in the cloud: delete it there",
		    name ? " " : "", name ? name : "");
	if (a->json) {
		o = json_object();
		json_object_set_new(o, "status", json_string("Disconnected"));
		json_object_set_new(o, "resourceName", name ? json_string(name) :
		    json_null());
		json_object_set_new(o, "deletedInCloud", json_boolean(!force));
		json_object_set_new(o, "reloaded", json_string(told));
		azcm_print_json(o);
	} else
		printf("Disconnected%s%s%s\n%s%s%s", name ? " " : "", name ? name : "",
		    force ? " locally" : "", told[0] ? "  reloaded: " : "", told,
		    told[0] ? "\n" : "");
 done:
	if (blocked)
		unblock_signals(&oldmask);
	free(resp.body);
	json_decref(machine);
	state_unlock(lock);
	return rc;
}
