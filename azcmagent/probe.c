/* probe.c -- one HTTP(S) exchange on libcurl that keeps what a diagnosis needs: the proxy's answer, the server's Date, TLS version, timing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "probe.h"

#define PROBE_MAX_BODY	(4 << 20)

struct probe_call {
	CURL			*easy;
	struct probe_resp	*resp;
	size_t			 cap;
	int			 overflow;
};

static size_t
probe_on_body(char *data, size_t size, size_t n, void *arg)
{
	struct probe_call	*c = arg;
	struct probe_resp	*r = c->resp;
	size_t			 len = size * n, cap;
	char			*p;

	if (r->body_len + len > PROBE_MAX_BODY) {
		c->overflow = 1;
		return 0;
	}
	if (r->body_len + len + 1 > c->cap) {
		cap = (r->body_len + len + 1) * 2;
		if ((p = realloc(r->body, cap)) == NULL)
			return 0;
		r->body = p;
		c->cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return len;
}

/* While the connection is up: once the transfer ends, a connection the
 * server closed has no TLS session left to ask. */
static void
probe_tls_version(struct probe_call *c)
{
	struct curl_tlssessioninfo	*tls = NULL;

	if (curl_easy_getinfo(c->easy, CURLINFO_TLS_SSL_PTR, &tls) == CURLE_OK &&
	    tls != NULL && tls->backend == CURLSSLBACKEND_OPENSSL &&
	    tls->internals != NULL)
		snprintf(c->resp->tls_version, sizeof(c->resp->tls_version), "%s",
		    SSL_get_version(tls->internals));
}

/* Header lines of every response, the proxy's CONNECT answer first. */
static size_t
probe_on_header(char *data, size_t size, size_t n, void *arg)
{
	struct probe_call	*c = arg;
	struct probe_resp	*r = c->resp;
	size_t			 len = size * n;
	char			 line[512], *v;

	if (len == 0 || len >= sizeof(line))
		return len;
	memcpy(line, data, len);
	line[len] = '\0';
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		line[--len] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		r->date = -1;		/* a Date belongs to the last response */
		probe_tls_version(c);
		return size * n;
	}
	if ((v = strchr(line, ':')) == NULL)
		return size * n;
	*v++ = '\0';
	while (isspace((unsigned char)*v))
		v++;
	if (strcasecmp(line, "Date") == 0)
		r->date = curl_getdate(v, NULL);
	else if (strcasecmp(line, "Proxy-Status") == 0 && r->proxy_status[0] == '\0')
		snprintf(r->proxy_status, sizeof(r->proxy_status), "%s", v);
	return size * n;
}

int
probe_run(const struct probe_req *q, struct probe_resp *r)
{
	struct probe_call		 c;
	struct curl_slist		*headers = NULL, *resolve = NULL;
	char				 errbuf[CURL_ERROR_SIZE];
	CURL				*easy;
	CURLcode			 rc;

	memset(r, 0, sizeof(*r));
	r->date = -1;
	memset(&c, 0, sizeof(c));
	c.resp = r;
	errbuf[0] = '\0';
	if ((easy = curl_easy_init()) == NULL) {
		snprintf(r->error, sizeof(r->error), "out of memory");
		return -1;
	}
	c.easy = easy;
	curl_easy_setopt(easy, CURLOPT_URL, q->url);
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, q->method ? q->method : "GET");
	if (q->method != NULL && strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	/* Only the proxy the caller names: never one from the environment. */
	curl_easy_setopt(easy, CURLOPT_PROXY, q->proxy ? q->proxy : "");
	curl_easy_setopt(easy, CURLOPT_NOPROXY, q->proxy ? "" : "*");
	curl_easy_setopt(easy, CURLOPT_HTTPPROXYTUNNEL, q->proxy ? 1L : 0L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (q->ca_file != NULL)
		curl_easy_setopt(easy, CURLOPT_CAINFO, q->ca_file);
	if (q->header != NULL) {
		headers = curl_slist_append(NULL, q->header);
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	}
	if (q->resolve != NULL) {
		resolve = curl_slist_append(NULL, q->resolve);
		curl_easy_setopt(easy, CURLOPT_RESOLVE, resolve);
	}
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, q->timeout_ms > 0 ?
	    q->timeout_ms : 10000L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, probe_on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &c);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, probe_on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, &c);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(easy, CURLINFO_HTTP_CONNECTCODE, &r->connect_status);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &r->seconds);
	curl_easy_getinfo(easy, CURLINFO_LOCAL_PORT, &r->local_port);
	probe_tls_version(&c);
	if (rc != CURLE_OK) {
		snprintf(r->error, sizeof(r->error), "%s", c.overflow ?
		    "answer larger than expected" : errbuf[0] ? errbuf :
		    curl_easy_strerror(rc));
		if (r->status == r->connect_status)	/* no answer from the server */
			r->status = 0;
	}
	curl_easy_cleanup(easy);
	curl_slist_free_all(headers);
	curl_slist_free_all(resolve);
	return rc == CURLE_OK ? 0 : -1;
}

void
probe_resp_free(struct probe_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
