/* httpc.c -- the agentlets' outbound HTTPS on libcurl, always through the local proxy, driven by libevent (or blocking, for CLIs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <event2/event.h>

#include "httpc.h"

#define HTTPC_MAX_BODY	(16 << 20)

struct httpc {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct httpc_call	*calls;		/* under way, for httpc_free() */
};

struct httpc_call {
	struct httpc		*h;
	struct httpc_call	*next;
	CURL			*easy;
	struct curl_slist	*headers;
	struct httpc_resp	 resp;
	size_t			 cap;
	httpc_cb		*cb;
	void			*arg;
	char			 errbuf[CURL_ERROR_SIZE];
};

static size_t
httpc_write(char *data, size_t size, size_t n, void *arg)
{
	struct httpc_call	*c = arg;
	size_t			 len = size * n, cap;
	char			*p;

	if (c->resp.body_len + len > HTTPC_MAX_BODY)
		return 0;		/* curl fails the transfer */
	if (c->resp.body_len + len + 1 > c->cap) {
		cap = (c->resp.body_len + len + 1) * 2;
		if ((p = realloc(c->resp.body, cap)) == NULL)
			return 0;
		c->resp.body = p;
		c->cap = cap;
	}
	memcpy(c->resp.body + c->resp.body_len, data, len);
	c->resp.body_len += len;
	c->resp.body[c->resp.body_len] = '\0';
	return len;
}

static void
httpc_call_free(struct httpc_call *c)
{
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->resp.body);
	free(c);
}

static struct httpc_call *
httpc_call_new(const struct httpc_req *r)
{
	struct httpc_call	*c;
	struct curl_blob	 cert, key;
	char			 ct[128];

	if ((c = calloc(1, sizeof(*c))) == NULL || (c->easy = curl_easy_init()) == NULL) {
		free(c);
		return NULL;
	}
	snprintf(ct, sizeof(ct), "Content-Type: %s", r->content_type ?
	    r->content_type : "application/json");
	c->headers = curl_slist_append(NULL, ct);
	c->headers = curl_slist_append(c->headers, "Expect:");
	curl_easy_setopt(c->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->body != NULL) {
		/* curl keeps its own copy: the caller's body may go at once. */
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
		curl_easy_setopt(c->easy, CURLOPT_COPYPOSTFIELDS, r->body);
	}
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	/* The appliance's rule: out only through arcproxy, never around it. */
	curl_easy_setopt(c->easy, CURLOPT_PROXY, r->proxy ? r->proxy : "");
	curl_easy_setopt(c->easy, CURLOPT_NOPROXY, "");
	curl_easy_setopt(c->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (r->ca_file != NULL)
		curl_easy_setopt(c->easy, CURLOPT_CAINFO, r->ca_file);
	if (r->cert_file != NULL && r->key_file != NULL) {
		curl_easy_setopt(c->easy, CURLOPT_SSLCERT, r->cert_file);
		curl_easy_setopt(c->easy, CURLOPT_SSLKEY, r->key_file);
	} else if (r->cert_pem != NULL && r->key_pem != NULL) {
		cert.data = (void *)r->cert_pem;
		cert.len = r->cert_pem_len;
		cert.flags = CURL_BLOB_COPY;
		key.data = (void *)r->key_pem;
		key.len = r->key_pem_len;
		key.flags = CURL_BLOB_COPY;
		curl_easy_setopt(c->easy, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(c->easy, CURLOPT_SSLKEY_BLOB, &key);
	}
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ?
	    r->timeout_ms : 30000L);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, httpc_write);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	return c;
}

/* Status, error text and TLS version once a transfer ends. */
static void
httpc_call_finish(struct httpc_call *c, CURLcode rc)
{
	struct curl_tlssessioninfo	*tls = NULL;

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->resp.status);
	curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &c->resp.seconds);
	if (rc != CURLE_OK) {
		snprintf(c->resp.error, sizeof(c->resp.error), "%s",
		    c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		if (c->resp.status == 200)	/* the proxy's answer to CONNECT */
			c->resp.status = 0;
	}
	if (curl_easy_getinfo(c->easy, CURLINFO_TLS_SSL_PTR, &tls) == CURLE_OK &&
	    tls != NULL && tls->backend == CURLSSLBACKEND_OPENSSL &&
	    tls->internals != NULL)
		snprintf(c->resp.tls_version, sizeof(c->resp.tls_version), "%s",
		    SSL_get_version(tls->internals));
	if (c->resp.body == NULL && (c->resp.body = strdup("")) == NULL)
		c->resp.body_len = 0;
}

static void
httpc_check_done(struct httpc *h)
{
	struct httpc_call	*c, **pp;
	CURLMsg			*msg;
	int			 left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		curl_multi_remove_handle(h->multi, c->easy);
		for (pp = &h->calls; *pp != NULL; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
		httpc_call_finish(c, msg->data.result);
		c->cb(&c->resp, c->arg);
		httpc_call_free(c);
	}
}

static void
httpc_on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct httpc	*h = arg;
	int		 running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, action, &running);
	httpc_check_done(h);
}

static void
httpc_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct httpc	*h = arg;
	int		 running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	httpc_check_done(h);
}

/* curl says which sockets to watch for what: one event per socket. */
static int
httpc_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct httpc	*h = arg;
	struct event	*ev = sockp;
	short		 kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL) {
			event_free(ev);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (ev != NULL) {
		event_del(ev);
		event_assign(ev, h->base, s, kind, httpc_on_socket, h);
	} else {
		if ((ev = event_new(h->base, s, kind, httpc_on_socket, h)) == NULL)
			return -1;
		curl_multi_assign(h->multi, s, ev);
	}
	event_add(ev, NULL);
	return 0;
}

static int
httpc_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct httpc	*h = arg;
	struct timeval	 tv;

	(void)multi;
	if (ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

struct httpc *
httpc_new(struct event_base *base)
{
	struct httpc	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->base = base;
	if ((h->multi = curl_multi_init()) == NULL ||
	    (h->timer = evtimer_new(base, httpc_on_timer, h)) == NULL) {
		if (h->multi != NULL)
			curl_multi_cleanup(h->multi);
		free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, httpc_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, httpc_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
httpc_free(struct httpc *h)
{
	struct httpc_call	*c;

	if (h == NULL)
		return;
	while ((c = h->calls) != NULL) {
		h->calls = c->next;
		curl_multi_remove_handle(h->multi, c->easy);
		httpc_call_free(c);
	}
	curl_multi_cleanup(h->multi);
	event_free(h->timer);
	free(h);
}

int
httpc_request(struct httpc *h, const struct httpc_req *r, httpc_cb *cb, void *arg)
{
	struct httpc_call	*c;

	if ((c = httpc_call_new(r)) == NULL)
		return -1;
	c->h = h;
	c->cb = cb;
	c->arg = arg;
	if (curl_multi_add_handle(h->multi, c->easy) != CURLM_OK) {
		httpc_call_free(c);
		return -1;
	}
	c->next = h->calls;
	h->calls = c;
	return 0;
}

int
httpc_request_sync(const struct httpc_req *r, struct httpc_resp *resp)
{
	struct httpc_call	*c;
	CURLcode		 rc;

	memset(resp, 0, sizeof(*resp));
	if ((c = httpc_call_new(r)) == NULL) {
		snprintf(resp->error, sizeof(resp->error), "out of memory");
		return -1;
	}
	rc = curl_easy_perform(c->easy);
	httpc_call_finish(c, rc);
	*resp = c->resp;
	c->resp.body = NULL;		/* the caller's now */
	httpc_call_free(c);
	return rc == CURLE_OK ? 0 : -1;
}
