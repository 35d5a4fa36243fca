/* api.c -- the local REST API on evhttp: instance metadata, endpoints, managed identity tokens behind the Arc challenge, agent status. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "acceptor.h"
#include "addr.h"
#include "api.h"
#include "challenge.h"
#include "cloud.h"
#include "heartbeat.h"
#include "himds.h"
#include "log.h"
#include "machine.h"
#include "metadata.h"
#include "peercred.h"

#define API_MAX_WAITING		64	/* token requests waiting for the cloud */
#define API_SWEEP_SECONDS	5	/* how often expired keys are removed */
#define API_REQUEST_SECONDS	10	/* for a whole request to come in */
#define API_READ_HIGH		(64 * 1024)	/* input held for a connection */

/* A connection's deadline: evhttp's timeout restarts at every byte, so a
 * client trickling a header line at a time would hold it for hours. */
struct api_conn {
	struct himds_api		*api;
	struct api_conn			*prev, *next;
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;	/* once evhttp made it */
	struct event			*deadline;
	int				 serving;	/* a request in our hands */
};

struct api_wait {
	struct himds_api	*api;
	struct api_wait		*next;
	struct evhttp_request	*req;
	char			*resource;
};

struct himds_api {
	struct himds		*h;
	struct evhttp		*http;
	struct event		*sweep;
	struct api_wait		*waiting;	/* token requests at the cloud */
	int			 nwaiting;
	struct acceptor		*acceptor;	/* pauses evhttp's listeners on EMFILE */
	struct api_conn		*conns;
	int			 stopping;	/* SIGTERM: token requests get 503 */
};

struct api_route {
	const char	*path;
	int		 imds;		/* needs api-version (and Metadata: true) */
	void		(*serve)(struct himds_api *, struct evhttp_request *,
			    struct evkeyvalq *query);
};

/* The names a local client reaches himds by.  Anything else is a page in a
 * browser that a DNS name rebound to 127.0.0.1 (evil.example:40342). */
static const char *const api_hosts[] = {
	"localhost", "127.0.0.1", "[::1]", NULL
};

/* Headers that only a proxy adds: such a request is an SSRF attempt. */
static const char *const api_forwarded[] = {
	"X-Forwarded-For", "Forwarded", "Via", NULL
};

static void
api_reply(struct evhttp_request *req, int code, const char *reason, json_t *doc)
{
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);
	char		*text = NULL;

	if (doc != NULL)
		text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text != NULL) {
		evbuffer_add(out, text, strlen(text));
		evbuffer_add(out, "\n", 1);
		free(text);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json; charset=utf-8");
	evhttp_send_reply(req, code, reason, NULL);
}

static void
api_reply_text(struct evhttp_request *req, const char *json)
{
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);

	evbuffer_add(out, json, strlen(json));
	evbuffer_add(out, "\n", 1);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* Azure IMDS's error shape: {"error", "error_description"}. */
static void
api_error(struct evhttp_request *req, int code, const char *reason,
    const char *error, const char *description)
{
	api_reply(req, code, reason, json_pack("{s:s,s:s}", "error", error,
	    "error_description", description));
}

static int
api_not_connected(struct himds_api *api, struct evhttp_request *req)
{
	if (api->h->machine != NULL)
		return 0;
	api_error(req, 503, "Service Unavailable", "not_connected",
	    api->h->machine_error);
	return 1;
}

/* A metadata document of the machine, when there is one. */
static void
api_document(struct himds_api *api, struct evhttp_request *req,
    char *(*render)(const struct himds_machine *))
{
	char	*doc;

	if (api_not_connected(api, req))
		return;
	if ((doc = render(api->h->machine)) == NULL) {
		api_error(req, 500, "Internal Server Error", "internal_error",
		    "out of memory");
		return;
	}
	api_reply_text(req, doc);
	free(doc);
}

static void
api_instance(struct himds_api *api, struct evhttp_request *req,
    struct evkeyvalq *query)
{
	(void)query;
	api_document(api, req, himds_metadata_instance);
}

static void
api_endpoints(struct himds_api *api, struct evhttp_request *req,
    struct evkeyvalq *query)
{
	(void)query;
	api_document(api, req, himds_metadata_endpoints);
}

static void
api_agentstatus(struct himds_api *api, struct evhttp_request *req,
    struct evkeyvalq *query)
{
	struct himds	*h = api->h;
	char		 when[32];

	(void)query;
	himds_rfc3339(h->last_heartbeat, when, sizeof(when));
	api_reply(req, 200, "OK", json_pack("{s:s,s:o,s:s,s:o,s:o}",
	    "status", himds_status_name(h->status),
	    "lastHeartbeat", h->last_heartbeat ? json_string(when) : json_null(),
	    "agentVersion", HIMDS_AGENT_VERSION,
	    "resourceId", h->machine ? json_string(h->machine->resource_id) :
	    json_null(),
	    "lastError", h->last_error[0] ? json_string(h->last_error) :
	    json_null()));
}

/* The uid of the local process at the other end (its TCP socket's owner);
 * (uid_t)-1, one shared bucket, when the kernel cannot say. */
static uid_t
api_peer_uid(struct evhttp_request *req)
{
	struct evhttp_connection	*conn;
	struct bufferevent		*bev;
	uid_t				 uid;
	char				 err[256];

	if ((conn = evhttp_request_get_connection(req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    peercred_tcp_uid(bufferevent_getfd(bev), &uid, err,
	    sizeof(err)) == -1)
		return (uid_t)-1;
	return uid;
}

/* 401 and a new key file named in the realm: the caller proves that it may
 * read the himds group's files.  A caller with its fill of live keys gets
 * 429 and waits for one of them to expire. */
static void
api_challenge(struct himds_api *api, struct evhttp_request *req,
    const char *why)
{
	char	path[PATH_MAX], realm[PATH_MAX + 16], err[512], after[32];
	time_t	retry_after = 0;
	uid_t	uid = api_peer_uid(req);
	int	rc;

	rc = himds_challenge_issue(api->h->challenge, time(NULL), uid, path,
	    sizeof(path), &retry_after, err, sizeof(err));
	if (rc == 1) {
		log_debug("token key for uid %ld refused: too many outstanding",
		    (long)uid);
		snprintf(after, sizeof(after), "%lld", (long long)retry_after);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", after);
		api_error(req, 429, "Too Many Requests", "too_many_requests",
		    "Too many token keys outstanding for this caller; use one "
		    "or wait for them to expire");
		return;
	}
	if (rc == -1) {
		log_warnx("token key: %s", err);
		api_error(req, 500, "Internal Server Error", "internal_error",
		    "cannot write a token key file");
		return;
	}
	snprintf(realm, sizeof(realm), "Basic realm=%s", path);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "WWW-Authenticate", realm);
	api_error(req, 401, "Unauthorized", "unauthorized", why);
}

/* "Basic <secret>": the secret, trimmed, in buf; NULL when it is not that. */
static const char *
api_basic_secret(const char *auth, char *buf, size_t len)
{
	size_t	n;

	if (auth == NULL || strncasecmp(auth, "Basic", 5) != 0 ||
	    (auth[5] != ' ' && auth[5] != '\t'))
		return NULL;
	for (auth += 5; *auth == ' ' || *auth == '\t'; auth++)
		;
	n = strlen(auth);
	while (n > 0 && strchr(" \t\r\n", auth[n - 1]) != NULL)
		n--;
	if (n == 0 || n >= len)
		return NULL;
	memcpy(buf, auth, n);
	buf[n] = '\0';
	return buf;
}

static void
api_wait_free(struct api_wait *w)
{
	struct api_wait	**pp;

	for (pp = &w->api->waiting; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			w->api->nwaiting--;
			break;
		}
	free(w->resource);
	free(w);
}

/* expires_in and expires_on as Azure's IMDS gives them: strings. */
static json_t *
api_string_of(json_t *v)
{
	char	buf[32];

	if (json_is_string(v))
		return json_string(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)json_integer_value(v));
		return json_string(buf);
	}
	return NULL;
}

static void
api_token_answer(struct himds *h, long status, json_t *answer,
    const char *error, void *arg)
{
	struct api_wait	*w = arg;
	json_t		*doc, *in, *on;
	const char	*token;

	(void)h;
	if (w->req == NULL) {		/* answered 503 at SIGTERM */
		api_wait_free(w);
		return;
	}
	token = json_string_value(json_object_get(answer, "access_token"));
	if (status == 200 && token != NULL) {
		in = api_string_of(json_object_get(answer, "expires_in"));
		on = api_string_of(json_object_get(answer, "expires_on"));
		doc = json_pack("{s:s,s:o*,s:o*,s:s,s:s}", "access_token", token,
		    "expires_in", in, "expires_on", on,
		    "resource", w->resource,
		    "token_type", "Bearer");
		api_reply(w->req, 200, "OK", doc);
		log_info("token for %s handed out", w->resource);
	} else if (status == 400) {
		log_warnx("token for %s refused: %s", w->resource, error);
		api_error(w->req, 400, "Bad Request", "invalid_resource", error);
	} else {
		log_warnx("token for %s: %s", w->resource, error[0] ? error :
		    "no access_token in the answer");
		api_error(w->req, 502, "Bad Gateway", "cloud_error", error[0] ?
		    error : "the cloud's answer holds no access_token");
	}
	api_wait_free(w);
}

/* Why resource cannot be logged and sent to the cloud, or NULL: no newline
 * forges a log line, no %00 in the query cuts it short unseen. */
static const char *
api_resource_bad(const char *resource, const char *query)
{
	const char	*p;
	json_t		*s;

	if (query != NULL && strstr(query, "%00") != NULL)
		return "holds a control character";
	for (p = resource; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "holds a control character";
	/* It goes to the cloud in JSON: jansson takes UTF-8 only. */
	if ((s = json_string(resource)) == NULL)
		return "is not UTF-8";
	json_decref(s);
	return NULL;
}

static void
api_token(struct himds_api *api, struct evhttp_request *req,
    struct evkeyvalq *query)
{
	struct api_wait	*w;
	const char	*resource, *auth, *secret, *bad;
	json_t		*body;
	char		 buf[256];

	if (api_not_connected(api, req))
		return;
	resource = evhttp_find_header(query, "resource");
	if (resource == NULL || resource[0] == '\0') {
		api_error(req, 400, "Bad Request", "invalid_request",
		    "Required query variable 'resource' is missing");
		return;
	}
	if ((bad = api_resource_bad(resource, evhttp_uri_get_query(
	    evhttp_request_get_evhttp_uri(req)))) != NULL) {
		snprintf(buf, sizeof(buf), "Query variable 'resource' %s", bad);
		api_error(req, 400, "Bad Request", "invalid_request", buf);
		return;
	}
	auth = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (auth == NULL) {
		api_challenge(api, req, "Read the key file named in the "
		    "WWW-Authenticate realm and send it as Authorization: "
		    "Basic <key>");
		return;
	}
	if (api->stopping) {
		api_error(req, 503, "Service Unavailable", "shutting_down",
		    "himds is stopping");
		return;
	}
	/* Full before the key is spent: the same key works on the retry. */
	if (api->nwaiting >= API_MAX_WAITING) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "1");
		api_error(req, 429, "Too Many Requests", "too_many_requests",
		    "Too many token requests at once; try again");
		return;
	}
	secret = api_basic_secret(auth, buf, sizeof(buf));
	if (himds_challenge_redeem(api->h->challenge, secret, time(NULL)) == -1) {
		log_info("token request with an unknown, used or expired key");
		api_challenge(api, req, "The key is unknown, used or expired: "
		    "read the new key file");
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->resource = strdup(resource)) == NULL) {
		free(w);
		api_error(req, 500, "Internal Server Error", "internal_error",
		    "out of memory");
		return;
	}
	w->api = api;
	w->req = req;
	body = json_pack("{s:s}", "resource", resource);
	if (body == NULL || himds_cloud_post(api->h->cloud, "token", body,
	    api_token_answer, w) == -1) {
		json_decref(body);
		free(w->resource);
		free(w);
		api_error(req, 500, "Internal Server Error", "internal_error",
		    "cannot start the request to the cloud");
		return;
	}
	json_decref(body);
	w->next = api->waiting;
	api->waiting = w;
	api->nwaiting++;
}

static const struct api_route api_routes[] = {
	{ "/metadata/instance", 1, api_instance },
	{ "/metadata/endpoints", 1, api_endpoints },
	{ "/metadata/identity/oauth2/token", 1, api_token },
	{ "/agentstatus", 0, api_agentstatus },
	{ NULL, 0, NULL }
};

/* Is Host one of api_hosts, with or without a :port? */
static int
api_host_ok(const char *host)
{
	const char	*colon;
	size_t		 len;
	int		 i;

	if (host == NULL)
		return 0;
	colon = host[0] == '[' ? strchr(host, ']') : host;
	colon = colon != NULL ? strchr(colon, ':') : NULL;
	len = colon != NULL ? (size_t)(colon - host) : strlen(host);
	if (colon != NULL && (colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > 5))
		return 0;
	for (i = 0; api_hosts[i] != NULL; i++)
		if (strlen(api_hosts[i]) == len &&
		    strncasecmp(host, api_hosts[i], len) == 0)
			return 1;
	return 0;
}

static void
api_conn_arm(struct api_conn *c)
{
	struct timeval	tv = { API_REQUEST_SECONDS, 0 };

	evtimer_add(c->deadline, &tv);
}

static void
api_conn_free(struct api_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->api->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->deadline);
	free(c);
}

/* evhttp frees the connection (its close callback comes first). */
static void
api_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	api_conn_free(arg);
}

/* First run, right after the accept: the connection evhttp made around the
 * bufferevent (its callbacks' argument) gets a close callback and the
 * deadline.  Later runs: too slow, and evhttp is told of an end of file,
 * closing the connection as it would for one (api_conn_closed frees c). */
static void
api_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct api_conn	*c = arg;
	void		*cbarg = NULL;

	(void)fd;
	(void)what;
	if (c->evcon == NULL) {
		bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
		if ((c->evcon = cbarg) == NULL) {
			api_conn_free(c);	/* evhttp gave up on it */
			return;
		}
		evhttp_connection_set_closecb(c->evcon, api_conn_closed, c);
		api_conn_arm(c);
	} else if (!c->serving)
		bufferevent_trigger_event(c->bev, BEV_EVENT_READING |
		    BEV_EVENT_EOF, 0);
}

/* Each connection's bufferevent, as evhttp would make it, and its tracker,
 * whose timer runs at once (evhttp makes the connection meanwhile). */
static struct bufferevent *
api_conn_new(struct event_base *base, void *arg)
{
	struct himds_api	*api = arg;
	struct api_conn		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->deadline = evtimer_new(base, api_conn_timer, c)) == NULL ||
	    (c->bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		if (c != NULL && c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		return NULL;
	}
	c->api = api;
	/* Requests behind the one being served wait in the socket, not
	 * here: a client that reads no answer cannot fill himds. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, API_READ_HIGH);
	if ((c->next = api->conns) != NULL)
		c->next->prev = c;
	api->conns = c;
	event_active(c->deadline, EV_TIMEOUT, 1);
	return c->bev;
}

/* The answer went out: the next request on the connection has its time. */
static void
api_conn_answered(struct evhttp_request *req, void *arg)
{
	struct api_conn	*c = arg;

	(void)req;
	c->serving = 0;
	api_conn_arm(c);
}

/* The request is whole: no deadline while it is served (the cloud may
 * take its time), a new one once it is answered. */
static void
api_conn_serving(struct himds_api *api, struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct api_conn			*c;

	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return;
	for (c = api->conns; c != NULL; c = c->next)
		if (c->evcon == evcon) {
			c->serving = 1;
			evtimer_del(c->deadline);
			evhttp_request_set_on_complete_cb(req, api_conn_answered,
			    c);
			return;
		}
}

static int
api_count_header(const struct evkeyvalq *headers, const char *name)
{
	const struct evkeyval	*kv;
	int			 n = 0;

	TAILQ_FOREACH(kv, headers, next)
		if (strcasecmp(kv->key, name) == 0)
			n++;
	return n;
}

static void
api_request(struct evhttp_request *req, void *arg)
{
	struct himds_api		*api = arg;
	struct evkeyvalq		*in = evhttp_request_get_input_headers(req);
	struct evkeyvalq		 query;
	const struct evhttp_uri		*uri = evhttp_request_get_evhttp_uri(req);
	const struct api_route		*r;
	const char			*path, *meta;
	char				 why[128], authority[300];
	int				 i;

	api_conn_serving(api, req);
	for (i = 0; api_forwarded[i] != NULL; i++)
		if (evhttp_find_header(in, api_forwarded[i]) != NULL) {
			log_warnx("refused a request with %s: a proxied request "
			    "is an SSRF attempt", api_forwarded[i]);
			snprintf(why, sizeof(why), "A request with %s is refused",
			    api_forwarded[i]);
			api_error(req, 400, "Bad Request", "invalid_request", why);
			return;
		}
	if (api_count_header(in, "Host") > 1) {
		log_warnx("refused a request with more than one Host");
		api_error(req, 400, "Bad Request", "invalid_request",
		    "More than one Host header (RFC 9112 3.2)");
		return;
	}
	if (!api_host_ok(evhttp_find_header(in, "Host"))) {
		log_warnx("refused a request for Host %s: only localhost, "
		    "127.0.0.1 and [::1] (DNS rebinding?)",
		    evhttp_find_header(in, "Host") ? evhttp_find_header(in,
		    "Host") : "(none)");
		api_error(req, 400, "Bad Request", "invalid_request",
		    "Host must be localhost, 127.0.0.1 or [::1]");
		return;
	}
	/* In absolute form (GET http://host/...) the request line names the
	 * host asked for, whatever Host says (RFC 9112 3.2.2). */
	if (uri != NULL && evhttp_uri_get_host(uri) != NULL) {
		if (evhttp_uri_get_port(uri) != -1)
			snprintf(authority, sizeof(authority), "%s:%d",
			    evhttp_uri_get_host(uri), evhttp_uri_get_port(uri));
		else
			snprintf(authority, sizeof(authority), "%s",
			    evhttp_uri_get_host(uri));
		if (!api_host_ok(authority)) {
			log_warnx("refused a request for %s in absolute form: "
			    "only localhost, 127.0.0.1 and [::1]", authority);
			api_error(req, 400, "Bad Request", "invalid_request",
			    "Host must be localhost, 127.0.0.1 or [::1]");
			return;
		}
	}
	if (uri == NULL || (path = evhttp_uri_get_path(uri)) == NULL)
		path = "";
	for (r = api_routes; r->path != NULL; r++)
		if (strcmp(path, r->path) == 0)
			break;
	if (r->path == NULL) {
		api_error(req, 404, "Not Found", "not_found",
		    "No such endpoint");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET");
		api_error(req, 405, "Method Not Allowed", "invalid_request",
		    "Only GET is served");
		return;
	}
	/* Every endpoint, /agentstatus too: a browser cannot send it
	 * without a CORS preflight that himds never answers. */
	meta = evhttp_find_header(in, "Metadata");
	if (meta == NULL || strcasecmp(meta, "true") != 0) {
		api_error(req, 400, "Bad Request", "invalid_request",
		    "Required metadata header not specified");
		return;
	}
	memset(&query, 0, sizeof(query));
	TAILQ_INIT(&query);
	if (evhttp_parse_query_str(evhttp_uri_get_query(uri) ?
	    evhttp_uri_get_query(uri) : "", &query) == -1) {
		api_error(req, 400, "Bad Request", "invalid_request",
		    "Bad query string");
		return;
	}
	if (r->imds && (evhttp_find_header(&query, "api-version") == NULL ||
	    evhttp_find_header(&query, "api-version")[0] == '\0'))
		api_error(req, 400, "Bad Request", "invalid_request",
		    "Bad request. api-version was not specified in the request");
	else
		r->serve(api, req, &query);
	evhttp_clear_headers(&query);
}

static void
api_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct himds_api	*api = arg;
	int			 n;

	(void)fd;
	(void)what;
	if ((n = himds_challenge_expire(api->h->challenge, time(NULL))) > 0)
		log_debug("%d token key%s expired", n, n == 1 ? "" : "s");
}

static int
api_listen(struct himds_api *api, const struct sockaddr *sa, socklen_t len,
    char *err, size_t errlen)
{
	struct evhttp_bound_socket	*b;
	int				 fd;

	if ((fd = addr_listen(sa, len, 0, 128, err, errlen)) == -1)
		return -1;
	if ((b = evhttp_accept_socket_with_handle(api->http, fd)) == NULL) {
		close(fd);
		snprintf(err, errlen, "listen: out of memory");
		return -1;
	}
	return acceptor_watch(api->acceptor, evhttp_bound_socket_get_listener(b),
	    err, errlen);
}

struct himds_api *
himds_api_new(struct himds *h, char *err, size_t errlen)
{
	struct himds_api	*api;
	struct timeval		 tv = { .tv_sec = API_SWEEP_SECONDS };
	int			 i;

	if ((api = calloc(1, sizeof(*api))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	api->h = h;
	if ((api->http = evhttp_new(h->base)) == NULL ||
	    (api->sweep = event_new(h->base, -1, EV_PERSIST, api_sweep,
	    api)) == NULL ||
	    (api->acceptor = acceptor_new(h->base, NULL, api, err, errlen)) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	evhttp_set_timeout(api->http, 10);
	evhttp_set_max_headers_size(api->http, 16384);
	evhttp_set_max_body_size(api->http, 4096);
	evhttp_set_gencb(api->http, api_request, api);
	evhttp_set_bevcb(api->http, api_conn_new, api);
	for (i = 0; i < h->settings.nlisten; i++)
		if (api_listen(api, (const struct sockaddr *)&h->settings.listen[i],
		    h->settings.listen_len[i], err, errlen) == -1)
			goto fail;
	if (h->settings.token_key_lifetime_seconds < API_SWEEP_SECONDS)
		tv.tv_sec = h->settings.token_key_lifetime_seconds;
	event_add(api->sweep, &tv);
	return api;
 fail:
	himds_api_free(api);
	return NULL;
}

void
himds_api_stopping(struct himds_api *api)
{
	struct api_wait	*w;

	/* Answered now, while the loop still runs to send it; the record
	 * stays until the cloud's call ends (or himds_api_free). */
	api->stopping = 1;
	for (w = api->waiting; w != NULL; w = w->next)
		if (w->req != NULL) {
			api_error(w->req, 503, "Service Unavailable",
			    "shutting_down", "himds is stopping");
			w->req = NULL;
		}
}

void
himds_api_free(struct himds_api *api)
{
	if (api == NULL)
		return;
	while (api->waiting != NULL) {
		if (api->waiting->req != NULL)
			api_error(api->waiting->req, 503, "Service Unavailable",
			    "shutting_down", "himds is stopping");
		api_wait_free(api->waiting);
	}
	if (api->sweep != NULL)
		event_free(api->sweep);
	/* The acceptor first: it lets go of evhttp's listeners. */
	acceptor_free(api->acceptor);
	if (api->http != NULL)
		evhttp_free(api->http);
	/* evhttp_free closed the connections; what is left was never one. */
	while (api->conns != NULL)
		api_conn_free(api->conns);
	free(api);
}
