/* control.c -- the control plane (management.cloudsim.test): register, heartbeat, certificate renewal, access tokens and DELETE, over HTTPS with machine certificates. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "atomicfile.h"
#include "cloudsim.h"
#include "control.h"
#include "extensions.h"
#include "guestconfig.h"
#include "httpd.h"
#include "jwt.h"
#include "log.h"
#include "pki.h"
#include "registry.h"
#include "simconf.h"
#include "tls.h"

#define CONTROL_TAGS_MAX		50	/* Azure's limit per resource */
#define CONTROL_TAG_NAME_MAX		512
#define CONTROL_TAG_VALUE_MAX		256
#define CONTROL_VERSION_MAX		64
#define CONTROL_RESOURCE_MAX		2048	/* a token's audience */
#define CONTROL_ISSUER_FMT		"https://login.cloudsim.test/%s/"

struct control {
	struct cloudsim		*cs;
	const struct simconf	*cfg;
	struct registry		*registry;
	struct pki_ca		*ca;		/* signs certificates and tokens */
	char			*pkgsign_pem;	/* pkgsign-ca.crt: register hands it out */
	struct httpd		*httpd;
};

static void	control_register(void *, struct httpd_request *, const char *);
static void	control_heartbeat(void *, struct httpd_request *, const char *);
static void	control_renew(void *, struct httpd_request *, const char *);
static void	control_token(void *, struct httpd_request *, const char *);
static void	control_delete(void *, struct httpd_request *, const char *);
static void	control_settings_cert(void *, struct httpd_request *, const char *);
static void	control_extensions(void *, struct httpd_request *, const char *);
static void	control_extension_status(void *, struct httpd_request *,
		    const char *);
static void	control_gc_list(void *, struct httpd_request *, const char *);
static void	control_gc_report(void *, struct httpd_request *, const char *);

static const struct httpd_route control_routes[] = {
	{ "POST", "/machines/register", control_register },
	{ "POST", "/machines/{}/heartbeat", control_heartbeat },
	{ "POST", "/machines/{}/certificate", control_renew },
	{ "POST", "/machines/{}/token", control_token },
	{ "DELETE", "/machines/{}", control_delete },
	{ "PUT", "/machines/{}/settingsCertificate", control_settings_cert },
	{ "GET", "/machines/{}/extensions", control_extensions },
	{ "PUT", "/machines/{}/extensions/{}/status", control_extension_status },
	{ "GET", "/machines/{}/guestConfigurationAssignments", control_gc_list },
	{ "POST", "/machines/{}/guestConfigurationAssignments/{}/reports",
	    control_gc_report },
	{ NULL, NULL, NULL }
};

/* The request's body as a JSON object; NULL with 400 answered. */
static json_t *
control_body(struct httpd_request *req)
{
	json_error_t	 jerr;
	json_t		*doc;

	if (req->body_len == 0) {
		httpd_error(req, 400, "InvalidJson", "expected a JSON object as "
		    "the body (Content-Type: application/json)");
		return NULL;
	}
	if ((doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		httpd_error(req, 400, "InvalidJson", "the body is not JSON: %s "
		    "(line %d, column %d)", jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		httpd_error(req, 400, "InvalidJson", "expected a JSON object as "
		    "the body");
		return NULL;
	}
	return doc;
}

/* An optional string member of at most max bytes: 0 (*out NULL when
 * absent), or -1 with 400 answered. */
static int
control_string(struct httpd_request *req, json_t *body, const char *key,
    size_t max, const char **out)
{
	json_t	*v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		httpd_error(req, 400, "InvalidRequest", "%s: expected a string of "
		    "at most %zu bytes", key, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/*
 * The registered machine whose certificate the client presented, if it is
 * the one named in the path; NULL with 401 (no such identity) or 403
 * (another machine's path) answered.
 */
static struct registry_machine *
control_machine(struct control *ctl, struct httpd_request *req,
    const char *name)
{
	struct registry_machine	*m;
	const char		*owner;
	char			 cn[128], serial[REGISTRY_SERIAL_MAX], why[200];

	if (pki_peer_identity(req->ssl, cn, sizeof(cn), serial, sizeof(serial),
	    why, sizeof(why)) == -1) {
		if (SSL_get0_peer_certificate(req->ssl) == NULL)
			httpd_error(req, 401, "CertificateRequired", "%s needs the "
			    "machine's certificate as the TLS client certificate",
			    req->path);
		else
			httpd_error(req, 401, "CertificateNotRecognized",
			    "certificate not recognised: %s", why);
		return NULL;
	}
	switch (registry_cert_state(ctl->registry, cn, serial, time(NULL), &m,
	    &owner)) {
	case REGISTRY_CERT_MACHINE:
		break;
	case REGISTRY_CERT_REVOKED:
		httpd_error(req, 401, "CertificateRevoked", "certificate not "
		    "recognised: serial %s of machine %s is revoked, the machine "
		    "was deleted", serial, owner);
		return NULL;
	default:
		httpd_error(req, 401, "CertificateNotRecognized", "certificate "
		    "not recognised: CN=%s, serial %s was not issued to a "
		    "registered machine", cn, serial);
		return NULL;
	}
	if (strcmp(m->name, name) != 0) {
		httpd_error(req, 403, "Forbidden", "the certificate is machine "
		    "%s's; it cannot act for %s", m->name, name);
		return NULL;
	}
	return m;
}

static int
control_token_ok(const struct simconf_control *c, const char *token)
{
	size_t	len = strlen(token);
	int	i, ok = 0;

	for (i = 0; i < c->ntokens; i++)
		if (strlen(c->onboarding_tokens[i]) == len &&
		    CRYPTO_memcmp(c->onboarding_tokens[i], token, len) == 0)
			ok = 1;
	return ok;
}

/* tags: {name: "value"} within Azure's limits; 0, or -1 with 400 answered. */
static int
control_tags_ok(struct httpd_request *req, json_t *tags)
{
	const char	*key;
	json_t		*v;

	if (!json_is_object(tags) || json_object_size(tags) > CONTROL_TAGS_MAX) {
		httpd_error(req, 400, "InvalidTags", "tags: expected an object of "
		    "at most %d {\"name\": \"value\"} pairs", CONTROL_TAGS_MAX);
		return -1;
	}
	json_object_foreach(tags, key, v) {
		if (key[0] == '\0' || strlen(key) > CONTROL_TAG_NAME_MAX ||
		    strpbrk(key, "<>%&\\?/") != NULL || !json_is_string(v) ||
		    json_string_length(v) > CONTROL_TAG_VALUE_MAX) {
			httpd_error(req, 400, "InvalidTags", "tags: \"%.64s\": a "
			    "name has 1-%d characters (none of <>%%&\\?/), a value "
			    "is a string of at most %d", key, CONTROL_TAG_NAME_MAX,
			    CONTROL_TAG_VALUE_MAX);
			return -1;
		}
	}
	return 0;
}

/* A random (version 4) UUID: the machine's vmId. */
static int
control_uuid(char out[37])
{
	unsigned char	b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
	    b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* The new machine's resource, as ARM would describe it. */
static json_t *
control_resource(const struct simconf_control *c, const char *name,
    const char *location, json_t *tags)
{
	char	id[512], vm_id[37];

	if (control_uuid(vm_id) == -1)
		return NULL;
	snprintf(id, sizeof(id), "/subscriptions/%s/resourceGroups/%s/providers/"
	    "Microsoft.HybridCompute/machines/%s", c->subscription_id,
	    c->resource_group, name);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}",
	    "resourceId", id, "subscriptionId", c->subscription_id,
	    "resourceGroupName", c->resource_group, "tenantId", c->tenant_id,
	    "location", location, "name", name, "vmId", vm_id,
	    "tags", tags);
}

/* Signs the CSR for the machine: its PEM, serial and notAfter, or NULL
 * with 400 (the CSR) or 500 answered. */
static char *
control_issue(struct control *ctl, struct httpd_request *req, const char *csr,
    const char *name, char *serial, size_t seriallen, time_t *not_after)
{
	X509_REQ	*x;
	char		*pem, why[256], err[512];

	if (csr == NULL) {
		httpd_error(req, 400, "InvalidCsr", "csr: expected the PEM of a "
		    "certificate request with CN=%s", name);
		return NULL;
	}
	if ((x = pki_csr_parse(csr, strlen(csr), name, why, sizeof(why))) == NULL) {
		httpd_error(req, 400, "InvalidCsr", "csr: %s", why);
		return NULL;
	}
	pem = pki_ca_issue(ctl->ca, x, name,
	    (long)ctl->cfg->control.cert_lifetime_seconds, serial, seriallen,
	    not_after, err, sizeof(err));
	X509_REQ_free(x);
	if (pem == NULL || serial[0] == '\0') {
		log_warnx("cannot issue a certificate for %s: %s", name,
		    pem == NULL ? err : "no serial number");
		httpd_error(req, 500, "InternalError", "cannot issue the "
		    "certificate");
		free(pem);
		return NULL;
	}
	return pem;
}

/* Writes control.json; 0, or -1 with 500 answered. */
static int
control_save(struct control *ctl, struct httpd_request *req)
{
	char	err[512];

	if (registry_save(ctl->registry, err, sizeof(err)) == 0)
		return 0;
	log_warnx("%s", err);
	httpd_error(req, 500, "InternalError", "cannot save the control plane's "
	    "state: %s", err);
	return -1;
}

/* POST /machines/register: token, name, CSR; then the certificate and resource. */
static void
control_register(void *arg, struct httpd_request *req, const char *unused)
{
	struct control			*ctl = arg;
	const struct simconf_control	*c = &ctl->cfg->control;
	struct registry_machine		*m;
	json_t				*body, *tags, *resource = NULL, *empty = NULL;
	const char			*token, *name, *location, *version, *csr;
	char				*pem = NULL, serial[REGISTRY_SERIAL_MAX];
	time_t				 not_after;

	(void)unused;
	if ((body = control_body(req)) == NULL)
		return;
	token = json_string_value(json_object_get(body, "onboardingToken"));
	if (token == NULL || !control_token_ok(c, token)) {
		httpd_error(req, 401, "InvalidOnboardingToken", "onboardingToken: "
		    "%s", token == NULL ? "missing" : "not a valid onboarding token");
		goto done;
	}
	name = json_string_value(json_object_get(body, "name"));
	if (name == NULL || !registry_name_ok(name)) {
		httpd_error(req, 400, "InvalidMachineName", "name: expected 1-63 "
		    "of [A-Za-z0-9-_.], starting with a letter or digit");
		goto done;
	}
	if (control_string(req, body, "location", 64, &location) == -1 ||
	    control_string(req, body, "agentVersion", CONTROL_VERSION_MAX,
	    &version) == -1 ||
	    control_string(req, body, "csr", CONTROL_MAX_BODY, &csr) == -1)
		goto done;
	if (location != NULL && !simconf_location_ok(location)) {
		httpd_error(req, 400, "InvalidLocation", "location: expected 1-64 "
		    "letters and digits, like \"westeurope\"");
		goto done;
	}
	if ((tags = json_object_get(body, "tags")) == NULL || json_is_null(tags))
		tags = empty = json_object();
	if (tags == NULL || control_tags_ok(req, tags) == -1)
		goto done;
	if (registry_find(ctl->registry, name) != NULL) {
		httpd_error(req, 409, "MachineExists", "a machine named %s is "
		    "registered; disconnect it (or DELETE it in the operator API) "
		    "first", name);
		goto done;
	}
	if ((pem = control_issue(ctl, req, csr, name, serial, sizeof(serial),
	    &not_after)) == NULL)
		goto done;
	if ((resource = control_resource(c, name, location != NULL ? location :
	    c->location, tags)) == NULL ||
	    (m = registry_add(ctl->registry, name, resource, version != NULL ?
	    version : "", time(NULL))) == NULL) {
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	if (registry_add_cert(m, serial, not_after) == -1 ||
	    control_save(ctl, req) == -1) {
		registry_forget(ctl->registry, m);
		if (req->status == 0)
			httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	httpd_reply(req, 201, json_pack("{s:s, s:O, s:I, s:s}", "certificate",
	    pem, "resource", resource, "heartbeatIntervalSeconds",
	    (json_int_t)c->heartbeat_interval_seconds,
	    "packageSigningCertificates", ctl->pkgsign_pem));
	snprintf(req->note, sizeof(req->note), "machine %s registered "
	    "(certificate serial %s)", name, serial);
 done:
	free(pem);
	json_decref(resource);
	json_decref(empty);
	json_decref(body);
}

/* POST /machines/{name}/heartbeat: the machine is alive. */
static void
control_heartbeat(void *arg, struct httpd_request *req, const char *name)
{
	struct control		*ctl = arg;
	struct registry_machine	*m;
	json_t			*body;
	const char		*status, *version, *when;
	char			 now_text[REGISTRY_TIME_MAX], err[512];
	time_t			 now = time(NULL);

	if ((m = control_machine(ctl, req, name)) == NULL ||
	    (body = control_body(req)) == NULL)
		return;
	if (control_string(req, body, "status", 64, &status) == -1 ||
	    control_string(req, body, "agentVersion", CONTROL_VERSION_MAX,
	    &version) == -1 ||
	    control_string(req, body, "time", 64, &when) == -1)
		goto done;
	if (registry_heartbeat(m, now, version) == -1) {
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	/* A lost heartbeat on disk is not worth failing the machine for. */
	if (registry_save(ctl->registry, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	registry_time_text(now, now_text, sizeof(now_text));
	httpd_reply(req, 200, json_pack("{s:s, s:I}", "serverTime", now_text,
	    "heartbeatIntervalSeconds",
	    (json_int_t)ctl->cfg->control.heartbeat_interval_seconds));
	snprintf(req->note, sizeof(req->note), "heartbeat from %s: status %s, "
	    "agent %s, machine time %s", name, status ? status : "-",
	    version ? version : "-", when ? when : "-");
 done:
	json_decref(body);
}

/* POST /machines/{name}/certificate: a new certificate for a new key. */
static void
control_renew(void *arg, struct httpd_request *req, const char *name)
{
	struct control		*ctl = arg;
	struct registry_machine	*m;
	json_t			*body;
	const char		*csr;
	char			*pem = NULL, serial[REGISTRY_SERIAL_MAX];
	time_t			 not_after;

	if ((m = control_machine(ctl, req, name)) == NULL ||
	    (body = control_body(req)) == NULL)
		return;
	if (control_string(req, body, "csr", CONTROL_MAX_BODY, &csr) == -1 ||
	    (pem = control_issue(ctl, req, csr, name, serial, sizeof(serial),
	    &not_after)) == NULL)
		goto done;
	if (registry_add_cert(m, serial, not_after) == -1) {
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	if (control_save(ctl, req) == -1) {
		registry_drop_last_cert(m);
		goto done;
	}
	httpd_reply(req, 200, json_pack("{s:s}", "certificate", pem));
	snprintf(req->note, sizeof(req->note), "certificate of %s renewed "
	    "(serial %s)", name, serial);
 done:
	free(pem);
	json_decref(body);
}

/* POST /machines/{name}/token: an access token for resource, signed ES256. */
static void
control_token(void *arg, struct httpd_request *req, const char *name)
{
	struct control		*ctl = arg;
	struct registry_machine	*m;
	json_t			*body, *claims = NULL;
	const char		*resource, *tenant;
	char			*jwt = NULL, issuer[128], in[32], on[32], err[256];
	time_t			 now = time(NULL), exp;
	long long		 life = ctl->cfg->control.token_lifetime_seconds;
	size_t			 i;

	if ((m = control_machine(ctl, req, name)) == NULL ||
	    (body = control_body(req)) == NULL)
		return;
	if (control_string(req, body, "resource", CONTROL_RESOURCE_MAX,
	    &resource) == -1)
		goto done;
	for (i = 0; resource != NULL && resource[i] != '\0'; i++)
		if (resource[i] <= ' ' || resource[i] == 0x7f)
			break;
	if (resource == NULL || resource[0] == '\0' || resource[i] != '\0') {
		httpd_error(req, 400, "InvalidResource", "resource: expected the "
		    "audience, like \"https://management.azure.com/\"");
		goto done;
	}
	exp = now + (time_t)life;
	if ((tenant = json_string_value(json_object_get(m->resource,
	    "tenantId"))) == NULL)
		tenant = ctl->cfg->control.tenant_id;
	snprintf(issuer, sizeof(issuer), CONTROL_ISSUER_FMT, tenant);
	claims = json_pack("{s:s, s:O, s:s, s:I, s:I, s:I, s:O}",
	    "iss", issuer,
	    "sub", json_object_get(m->resource, "vmId"),
	    "aud", resource,
	    "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)exp,
	    "xms_mirid", json_object_get(m->resource, "resourceId"));
	if (claims == NULL ||
	    (jwt = jwt_sign_es256(pki_ca_key(ctl->ca), claims, err,
	    sizeof(err))) == NULL) {
		log_warnx("token for %s: %s", name, claims == NULL ?
		    "out of memory" : err);
		httpd_error(req, 500, "InternalError", "cannot make the token");
		goto done;
	}
	snprintf(in, sizeof(in), "%lld", life);
	snprintf(on, sizeof(on), "%lld", (long long)exp);
	httpd_reply(req, 200, json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "access_token", jwt, "expires_in", in, "expires_on", on,
	    "resource", resource, "token_type", "Bearer"));
	snprintf(req->note, sizeof(req->note), "token for %s, audience %.200s",
	    name, resource);
 done:
	free(jwt);
	json_decref(claims);
	json_decref(body);
}

/* DELETE /machines/{name}: the machine leaves; its certificates are revoked. */
static void
control_delete(void *arg, struct httpd_request *req, const char *name)
{
	struct control		*ctl = arg;
	struct registry_machine	*m;
	int			 n;

	if ((m = control_machine(ctl, req, name)) == NULL)
		return;
	n = registry_remove(ctl->registry, m);
	log_info("machine %s deleted by itself: %d certificate%s revoked", name, n,
	    n == 1 ? "" : "s");
	if (control_save(ctl, req) == -1)
		return;
	extensions_machine_deleted(ctl->cs, name);
	httpd_reply(req, 200, json_pack("{s:s, s:i}", "name", name,
	    "revokedCertificates", n));
}

/* PUT /machines/{name}/settingsCertificate: where protected settings go. */
static void
control_settings_cert(void *arg, struct httpd_request *req, const char *name)
{
	struct control	*ctl = arg;

	if (control_machine(ctl, req, name) != NULL)
		extensions_settings_certificate(ctl->cs, req, name);
}

/* GET /machines/{name}/extensions: the extensions' goal state. */
static void
control_extensions(void *arg, struct httpd_request *req, const char *name)
{
	struct control	*ctl = arg;

	if (control_machine(ctl, req, name) != NULL)
		extensions_goal_state(ctl->cs, req, name);
}

/* PUT /machines/{name}/extensions/{ext}/status: a handler's report. */
static void
control_extension_status(void *arg, struct httpd_request *req,
    const char *name)
{
	struct control	*ctl = arg;

	if (control_machine(ctl, req, name) != NULL)
		extensions_status(ctl->cs, req, name, req->args[1]);
}

/* GET /machines/{name}/guestConfigurationAssignments */
static void
control_gc_list(void *arg, struct httpd_request *req, const char *name)
{
	struct control	*ctl = arg;

	if (control_machine(ctl, req, name) != NULL)
		guestconfig_machine_get(ctl->cs, req, name);
}

/* POST /machines/{name}/guestConfigurationAssignments/{a}/reports */
static void
control_gc_report(void *arg, struct httpd_request *req, const char *name)
{
	struct control	*ctl = arg;

	if (control_machine(ctl, req, name) != NULL)
		guestconfig_machine_report(ctl->cs, req, name);
}

static void
control_serve(void *arg, struct httpd_request *req)
{
	const struct httpd_route	*r;
	char				 name[REGISTRY_NAME_MAX];

	if ((r = httpd_route(control_routes, req, name, sizeof(name))) != NULL)
		r->fn(arg, req, name);
}

/* The control plane speaks HTTP/1.1; clients without ALPN are welcome. */
static SSL_CTX *
control_tls(const struct simconf *cfg, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if ((ctx = pki_server_ctx(cfg->pki_dir, "services", err, errlen)) != NULL)
		tls_server_alpn(ctx, TLS_ALPN_HTTP11);
	return ctx;
}

static struct pki_ca *
control_ca(const struct simconf *cfg, char *err, size_t errlen)
{
	struct pki_ca	*ca;

	if ((ca = pki_ca_load(cfg->pki_dir, err, errlen)) == NULL)
		return NULL;
	if (!jwt_key_ok(pki_ca_key(ca))) {
		snprintf(err, errlen, "%s/ca.key: the control plane signs ES256 "
		    "tokens with it: expected an EC P-256 key", cfg->pki_dir);
		pki_ca_free(ca);
		return NULL;
	}
	return ca;
}

/* The package-signing CA's PEM, as register hands it to machines. */
static char *
control_pkgsign_pem(const struct simconf *cfg, char *err, size_t errlen)
{
	char	 path[PATH_MAX], *pem;
	size_t	 len;

	snprintf(path, sizeof(path), "%s/%s.crt", cfg->pki_dir, PKI_PKGSIGN_CA);
	if ((pem = atomicfile_read(path, CONTROL_MAX_BODY, &len, err,
	    errlen)) == NULL)
		return NULL;
	if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL ||
	    strlen(pem) != len) {
		snprintf(err, errlen, "%s: not a PEM certificate (make it with: "
		    "cloudsim pki %s)", path, cfg->pki_dir);
		free(pem);
		return NULL;
	}
	return pem;
}

int
control_check(const struct simconf *cfg, char *err, size_t errlen)
{
	struct pki_ca	*ca;
	SSL_CTX		*ctx;
	char		*pem;

	if ((ctx = control_tls(cfg, err, errlen)) == NULL)
		return -1;
	SSL_CTX_free(ctx);
	if ((ca = control_ca(cfg, err, errlen)) == NULL)
		return -1;
	pki_ca_free(ca);
	if ((pem = control_pkgsign_pem(cfg, err, errlen)) == NULL)
		return -1;
	free(pem);
	return 0;
}

struct control *
control_new(struct cloudsim *cs, char *err, size_t errlen)
{
	const struct simconf	*cfg = cs->cfg;
	struct control		*ctl;
	SSL_CTX			*ctx;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		snprintf(err, errlen, "control: out of memory");
		return NULL;
	}
	ctl->cs = cs;
	ctl->cfg = cfg;
	ctl->registry = cs->registry;
	if ((ctl->ca = control_ca(cfg, err, errlen)) == NULL ||
	    (ctl->pkgsign_pem = control_pkgsign_pem(cfg, err, errlen)) == NULL ||
	    (ctx = control_tls(cfg, err, errlen)) == NULL)
		goto fail;
	if ((ctl->httpd = httpd_new(cs->base, "control",
	    (const struct sockaddr *)&cfg->control.listen, cfg->control.listen_len,
	    ctx, CONTROL_MAX_BODY, control_serve, ctl, err, errlen)) == NULL)
		goto fail;
	return ctl;
 fail:
	control_free(ctl);
	return NULL;
}

void
control_stop(struct control *ctl)
{
	if (ctl != NULL)
		httpd_stop(ctl->httpd);
}

void
control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	httpd_free(ctl->httpd);
	pki_ca_free(ctl->ca);
	free(ctl->pkgsign_pem);
	free(ctl);
}
