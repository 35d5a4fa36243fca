/* cloud.c -- extmgr's calls to the control plane as this machine (goal state, status, settings certificate), blocking, through arcproxy with the machine certificate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloud.h"
#include "defaults.h"
#include "httpc.h"
#include "machine.h"
#include "safedir.h"

#define CLOUD_IDENTITY_MAX	(1 << 20)	/* machine.crt, machine.key */

/* machine.json as himds, guestconfig and arcnotify read it (lib/machine.c:
 * never through a symlink, caFile only root's when we are root); the
 * certificate and key are read for each call (cloud_identity). */
int
cloud_load(struct extmgr_cloud *c, const char *state_dir, const char *proxy,
    long timeout_ms, char *err, size_t errlen)
{
	struct himds_machine	*m;
	int			 rc;

	memset(c, 0, sizeof(*c));
	if ((rc = himds_machine_read_json(state_dir, &m, err, errlen)) != 0)
		return rc;
	c->name = strdup(m->name);
	c->cloud_url = strdup(m->cloud_url);
	c->ca_file = strdup(m->ca_file);
	if (asprintf(&c->himds_dir, "%s/" ARC_SUBDIR_HIMDS, state_dir) == -1)
		c->himds_dir = NULL;
	c->proxy = strdup(proxy);
	c->timeout_ms = timeout_ms;
	himds_machine_free(m);
	if (c->name == NULL || c->cloud_url == NULL || c->ca_file == NULL ||
	    c->himds_dir == NULL || c->proxy == NULL) {
		cloud_clear(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
cloud_clear(struct extmgr_cloud *c)
{
	free(c->name);
	free(c->cloud_url);
	free(c->ca_file);
	free(c->himds_dir);
	free(c->proxy);
	memset(c, 0, sizeof(*c));
}

static void
cloud_identity_clear(struct httpc_req *req)
{
	free((char *)req->cert_pem);
	if (req->key_pem != NULL)
		explicit_bzero((char *)req->key_pem, req->key_pem_len);
	free((char *)req->key_pem);
	req->cert_pem = req->key_pem = NULL;
}

/* machine.crt and machine.key for one call, as himds's data: extmgr is
 * root, and a path into himds's folder would follow what himds put there
 * (a symlink to a root-only file, a FIFO that hung the pass). */
static int
cloud_identity(const struct extmgr_cloud *c, struct httpc_req *req,
    char *err, size_t errlen)
{
	char	why[256];
	int	dfd;

	if ((dfd = safedir_open(c->himds_dir, why, sizeof(why))) == -1) {
		snprintf(err, errlen, "machine identity: %s", why);
		return -1;
	}
	req->cert_pem = safedir_read(dfd, ARC_FILE_MACHINE_CRT,
	    CLOUD_IDENTITY_MAX, &req->cert_pem_len, why, sizeof(why));
	if (req->cert_pem != NULL)
		req->key_pem = safedir_read(dfd, ARC_FILE_MACHINE_KEY,
		    CLOUD_IDENTITY_MAX, &req->key_pem_len, why, sizeof(why));
	close(dfd);
	if (req->key_pem == NULL) {
		snprintf(err, errlen, "machine identity: %s/%s", c->himds_dir,
		    why);
		cloud_identity_clear(req);
		return -1;
	}
	return 0;
}

long
cloud_call(const struct extmgr_cloud *c, const char *method, const char *path,
    json_t *body, char **answer, size_t *answer_len, char *err, size_t errlen)
{
	struct httpc_req	 req;
	struct httpc_resp	 resp;
	json_t			*doc, *e;
	const char		*code, *msg;
	char			 url[4096], *text = NULL;

	*answer = NULL;
	*answer_len = 0;
	err[0] = '\0';
	snprintf(url, sizeof(url), "%s/machines/%s/%s", c->cloud_url, c->name,
	    path);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.body = text;
	req.body_len = text ? strlen(text) : 0;
	req.proxy = c->proxy;
	req.ca_file = c->ca_file;
	req.timeout_ms = c->timeout_ms;
	if (cloud_identity(c, &req, err, errlen) == -1) {
		free(text);
		return 0;
	}
	httpc_request_sync(&req, &resp);
	cloud_identity_clear(&req);
	free(text);
	if (resp.status == 0)
		snprintf(err, errlen, "%s %s: no answer: %s", method, url,
		    resp.error[0] ? resp.error : "unknown error");
	else if (resp.status < 200 || resp.status > 299) {
		doc = json_loadb(resp.body ? resp.body : "", resp.body_len, 0,
		    NULL);
		e = json_object_get(doc, "error");
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
		snprintf(err, errlen, "%s %s: HTTP %ld%s%s%s%s", method, url,
		    resp.status, code ? ": " : "", code ? code : "",
		    msg ? ": " : "", msg ? msg : "");
		json_decref(doc);
	}
	*answer = resp.body;
	*answer_len = resp.body_len;
	return resp.status;
}
