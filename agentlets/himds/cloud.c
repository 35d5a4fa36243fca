/* cloud.c -- calls to the control plane as this machine: JSON POSTs to cloudUrl through arcproxy, with the machine certificate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "himds.h"
#include "httpc.h"
#include "machine.h"

struct cloud_call {
	struct himds_cloud	*cloud;
	struct cloud_call	*next;
	himds_cloud_cb		*cb;
	void			*arg;
	char			*body;		/* curl reads it until the end */
};

struct himds_cloud {
	struct himds		*h;
	struct httpc		*httpc;
	struct cloud_call	*calls;		/* under way */
};

struct himds_cloud *
himds_cloud_new(struct himds *h)
{
	struct himds_cloud	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->h = h;
	if ((c->httpc = httpc_new(h->base)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
himds_cloud_free(struct himds_cloud *c)
{
	struct cloud_call	*call;

	if (c == NULL)
		return;
	httpc_free(c->httpc);
	while ((call = c->calls) != NULL) {
		c->calls = call->next;
		free(call->body);
		free(call);
	}
	free(c);
}

/* "HTTP 403: Forbidden: the certificate ..." from the control plane's
 * {"error": {"code", "message"}}, or curl's reason when nothing came. */
static void
cloud_error(const struct httpc_resp *resp, json_t *answer, char *out,
    size_t outlen)
{
	json_t		*e = json_object_get(answer, "error");
	const char	*code = json_string_value(json_object_get(e, "code"));
	const char	*msg = json_string_value(json_object_get(e, "message"));

	if (resp->status == 0)
		snprintf(out, outlen, "no answer: %s", resp->error[0] ?
		    resp->error : "unknown error");
	else if (msg != NULL)
		snprintf(out, outlen, "HTTP %ld: %s%s%s", resp->status,
		    code ? code : "", code ? ": " : "", msg);
	else
		snprintf(out, outlen, "HTTP %ld", resp->status);
}

static void
cloud_done(const struct httpc_resp *resp, void *arg)
{
	struct cloud_call	*call = arg, **pp;
	struct himds_cloud	*c = call->cloud;
	json_t			*answer = NULL;
	char			 error[512] = "";

	for (pp = &c->calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == call) {
			*pp = call->next;
			break;
		}
	if (resp->body != NULL && resp->body_len > 0)
		answer = json_loadb(resp->body, resp->body_len, 0, NULL);
	if (resp->status < 200 || resp->status > 299)
		cloud_error(resp, answer, error, sizeof(error));
	call->cb(c->h, resp->status, answer, error, call->arg);
	json_decref(answer);
	free(call->body);
	free(call);
}

int
himds_cloud_post(struct himds_cloud *c, const char *op, json_t *body,
    himds_cloud_cb *cb, void *arg)
{
	const struct himds_machine	*m = c->h->machine;
	struct httpc_req		 req;
	struct cloud_call		*call;
	char				*text, url[2048];

	if (m == NULL)
		return -1;
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
		return -1;
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		free(text);
		return -1;
	}
	snprintf(url, sizeof(url), "%s/machines/%s/%s", m->cloud_url, m->name, op);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.body = text;
	req.body_len = strlen(text);
	req.proxy = c->h->settings.proxy;
	req.ca_file = m->ca_file;
	/* The identity as loaded, by value: curl keeps a connection for
	 * reuse while its certificate is the same, and a path stays the same
	 * across a renewal.  A new certificate is a new connection. */
	req.cert_pem = m->cert_pem;
	req.cert_pem_len = m->cert_len;
	req.key_pem = m->key_pem;
	req.key_pem_len = m->key_len;
	req.timeout_ms = c->h->settings.cloud_timeout_seconds * 1000;
	call->cloud = c;
	call->cb = cb;
	call->arg = arg;
	/* httpc hands the body to curl without a copy. */
	call->body = text;
	if (httpc_request(c->httpc, &req, cloud_done, call) == -1) {
		free(text);
		free(call);
		return -1;
	}
	call->next = c->calls;
	c->calls = call;
	return 0;
}
