/* gateway.c -- the Arc gateway stand-in: TLS with machine certificates, ALPN, the CONNECT policy, and HTTP/1.1 (the endpoint list, CONNECT tunnels). */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <http_parser.h>
#include <jansson.h>

#include "acceptor.h"
#include "addr.h"
#include "fastio.h"
#include "gateway.h"
#include "gateway_h2.h"
#include "gateway_internal.h"
#include "http.h"
#include "log.h"
#include "pki.h"
#include "route.h"
#include "simconf.h"
#include "tls.h"
#include "tunnel.h"

#define GW_LINGER_MS		1000
#define GW_MAX_SINGLE_IO	(128 * 1024)
#define GW_MAX_UNREAD		(256 * 1024)	/* answers a client may leave unread */

/* A client connection; the comment on each state says what is true in it. */
enum gw_state {
	GW_HANDSHAKE,	/* TLS handshake running; nothing is known about the peer */
	GW_REQUEST,	/* TLS up, identity settled; reading the next request head */
	GW_CONNECTING,	/* a CONNECT passed the policy; target TCP connect running, client reads paused */
	GW_TUNNEL,	/* 200 sent; the tunnel owns both bufferevents */
	GW_CLOSING,	/* a last response is queued; client input is discarded */
	GW_LINGER,	/* response flushed, close_notify and FIN sent; waiting briefly for the client's EOF */
};

struct gw_conn {
	TAILQ_ENTRY(gw_conn)	 entry;
	struct gateway		*gw;
	enum gw_state		 state;
	struct bufferevent	*bev;		/* TLS to the client (the tunnel's in GW_TUNNEL) */
	struct bufferevent	*target;	/* TCP to the target, while GW_CONNECTING */
	struct tunnel		*tunnel;	/* in GW_TUNNEL */
	struct event		*deadline;	/* ends the state: handshake, head, connect, close, linger */
	struct http_msg		 msg;
	struct gateway_peer	 who;
	struct gateway_request	 req;		/* the CONNECT, once its head is read */
	int			 alpn_refused;	/* the ALPN callback already logged why */
	int			 peer_eof;	/* the client sent EOF */
};

static const struct {
	int		 status;
	const char	*text;
} gw_reasons[] = {
	{ 200, "OK" },
	{ 400, "Bad Request" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 500, "Internal Server Error" },
	{ 502, "Bad Gateway" },
	{ 504, "Gateway Timeout" },
};

static void	gw_conn_free(struct gw_conn *);
static void	gw_on_read(struct bufferevent *, void *);

static struct timeval
gw_ms(long long ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

const char *
gateway_reason(int status)
{
	size_t	i;

	for (i = 0; i < sizeof(gw_reasons) / sizeof(gw_reasons[0]); i++)
		if (gw_reasons[i].status == status)
			return gw_reasons[i].text;
	return "Error";
}

static long long
gw_elapsed_ms(const struct timeval *since)
{
	struct timeval	now, d;

	gettimeofday(&now, NULL);
	timersub(&now, since, &d);
	return (long long)d.tv_sec * 1000 + d.tv_usec / 1000;
}

/* The one log line each CONNECT gets: the gateway's audit trail. */
void
gateway_log_connect(const struct gateway_peer *who,
    const struct gateway_request *req, const char *proto, int status,
    const char *error, const char *detail, uint64_t up, uint64_t down)
{
	log_info("connect %s machine=%s client=%s target=%s status=%d "
	    "up=%llu down=%llu ms=%lld proto=%s%s%s%s%s%s",
	    req->dest[0] ? req->dest : "-", who->machine[0] ? who->machine : "-",
	    who->addr, req->host ? req->host->target : "-", status,
	    (unsigned long long)up, (unsigned long long)down,
	    gw_elapsed_ms(&req->started), proto, error ? " error=" : "",
	    error ? error : "", detail ? " (" : "", detail ? detail : "",
	    detail ? ")" : "");
}

static void
gw_verdict(struct gateway_verdict *v, int status, const char *token,
    const char *details, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
gw_verdict(struct gateway_verdict *v, int status, const char *token,
    const char *details, const char *fmt, ...)
{
	va_list	ap;

	v->status = status;
	v->token = token;
	v->details = details;
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
}

void
gateway_decide(const struct gateway *gw, const struct gateway_peer *who,
    const char *authority, size_t len, struct gateway_request *req,
    struct gateway_verdict *v)
{
	const struct simconf	*cfg = gw->cfg;
	struct http_parser_url	 u;
	const char		*why = who->why_anonymous;
	char			 host[256], revoked[200];
	size_t			 n;
	int			 anonymous, machine;

	n = len < sizeof(req->dest) - 1 ? len : sizeof(req->dest) - 1;
	memcpy(req->dest, authority, n);
	req->dest[n] = '\0';
	if (n == 0)
		snprintf(req->dest, sizeof(req->dest), "(empty)");
	req->host = NULL;
	/* host:port and nothing else (RFC 9110 9.3.6), as http-parser reads it. */
	http_parser_url_init(&u);
	if (len == 0 || http_parser_parse_url(authority, len, 1, &u) != 0 ||
	    !(u.field_set & (1 << UF_HOST)) || !(u.field_set & (1 << UF_PORT)) ||
	    u.port == 0 || u.field_data[UF_HOST].len == 0 ||
	    u.field_data[UF_HOST].len >= sizeof(host))
		goto bad_target;
	memcpy(host, authority + u.field_data[UF_HOST].off,
	    u.field_data[UF_HOST].len);
	host[u.field_data[UF_HOST].len] = '\0';
	if (route_normalize_host(host) == -1)
		goto bad_target;
	anonymous = simconf_listed(&cfg->anonymous, host, u.port);
	/* A machine deleted since the handshake loses its identity at once. */
	machine = who->machine[0] != '\0';
	if (machine && gateway_revoked(gw, who, revoked, sizeof(revoked))) {
		machine = 0;
		why = revoked;
	}
	if (!machine && !anonymous) {
		gw_verdict(v, 403, "http_request_denied",
		    "machine certificate required",
		    "machine certificate required: %s needs a client certificate "
		    "issued by the cloudsim CA (%s)", req->dest, why);
		return;
	}
	if (!anonymous && !simconf_listed(&cfg->endpoints, host, u.port)) {
		gw_verdict(v, 403, "http_request_denied",
		    "destination not on the endpoint list",
		    "%s is not on the gateway's endpoint list (see GET %s)",
		    req->dest, GATEWAY_ENDPOINTS_PATH);
		return;
	}
	if ((req->host = simconf_host_lookup(cfg, host)) == NULL) {
		gw_verdict(v, 502, "destination_not_found", "unknown host",
		    "%s: no such host in the simulated cloud", host);
		return;
	}
	gw_verdict(v, 200, NULL, NULL, "tunnel to %s", req->host->target);
	return;
 bad_target:
	gw_verdict(v, 400, "http_request_error", "bad CONNECT target",
	    "CONNECT needs host:port, like echo.cloudsim.test:443");
}

int
gateway_revoked(const struct gateway *gw, const struct gateway_peer *who,
    char *why, size_t whylen)
{
	const char	*owner;

	if (who->machine[0] == '\0' || gw->registry == NULL ||
	    registry_cert_state(gw->registry, who->machine, who->serial,
	    time(NULL), NULL, &owner) != REGISTRY_CERT_REVOKED)
		return 0;
	snprintf(why, whylen, "certificate not recognised: serial %s of machine "
	    "%s is revoked, the machine was deleted", who->serial, owner);
	return 1;
}

void
gateway_target_failed(const struct gateway_request *req, short what, int err,
    struct gateway_verdict *v)
{
	if (what & BEV_EVENT_TIMEOUT || err == ETIMEDOUT) {
		gw_verdict(v, 504, "connection_timeout", "connect timed out",
		    "connect to %s (%s) timed out", req->dest, req->host->target);
		return;
	}
	if (err == ENETUNREACH || err == EHOSTUNREACH) {
		gw_verdict(v, 502, "destination_ip_unroutable", "unreachable",
		    "%s (%s): %s", req->dest, req->host->target, strerror(err));
		return;
	}
	if (err == 0 || err == EAGAIN || err == EINPROGRESS)
		err = ECONNREFUSED;
	gw_verdict(v, 502, "connection_refused", "target refused the connection",
	    "%s (%s): %s", req->dest, req->host->target, strerror(err));
}

/* Queues the last response and moves to GW_CLOSING. */
static void
gw_close_after(struct gw_conn *gc)
{
	gc->state = GW_CLOSING;
	evtimer_add(gc->deadline, &gc->gw->head_timeout);
	bufferevent_enable(gc->bev, gc->peer_eof ? EV_WRITE : EV_READ | EV_WRITE);
}

/*
 * Refuses with status, an RFC 9209 Proxy-Status error token, a short
 * details parameter and a text body; then closes.
 */
static void
gw_refuse(struct gw_conn *gc, int status, const char *token,
    const char *details, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
gw_refuse(struct gw_conn *gc, int status, const char *token,
    const char *details, const char *fmt, ...)
{
	struct evbuffer	*out = bufferevent_get_output(gc->bev);
	char		 body[512];
	va_list		 ap;
	int		 n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(body) - 2)
		n = sizeof(body) - 2;
	body[n++] = '\n';
	body[n] = '\0';
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %d\r\n"
	    "Connection: close\r\n"
	    "Proxy-Status: " GATEWAY_PROXY_STATUS "; error=%s; details=\"%s\"\r\n"
	    "\r\n%s", status, gateway_reason(status), n, token, details, body);
	if (gc->req.dest[0] != '\0') {
		body[n - 1] = '\0';
		gateway_log_connect(&gc->who, &gc->req, "http/1.1", status, token,
		    body, 0, 0);
	} else
		log_debug("%s: %d %s: %s", gc->who.addr, status, token, details);
	gw_close_after(gc);
}

static void
gw_refuse_verdict(struct gw_conn *gc, const struct gateway_verdict *v)
{
	gw_refuse(gc, v->status, v->token, v->details, "%s", v->text);
}

/* A response of ours to a plain request (not CONNECT). */
static void
gw_reply(struct gw_conn *gc, int status, const char *type, const char *body,
    size_t len, int head_only, int keep_alive, const char *extra)
{
	struct evbuffer	*out = bufferevent_get_output(gc->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s%s\r\n", status, gateway_reason(status), type, len,
	    keep_alive ? "" : "Connection: close\r\n", extra ? extra : "");
	if (!head_only)
		evbuffer_add(out, body, len);
	if (!keep_alive)
		gw_close_after(gc);
}

static void
gw_on_tunnel_done(void *arg, const struct tunnel_result *r)
{
	struct gw_conn	*gc = arg;
	struct linger	 rst = { 1, 0 };

	gateway_log_connect(&gc->who, &gc->req, "http/1.1", 200,
	    r->error ? "connection_terminated" : NULL, r->error, r->up, r->down);
	/* A tunnel that failed ends with a TCP reset, as h2 resets its stream:
	 * a FIN would read as the target's clean EOF. */
	if (r->error != NULL)
		setsockopt(bufferevent_getfd(gc->bev), SOL_SOCKET, SO_LINGER, &rst,
		    sizeof(rst));
	gw_conn_free(gc);
}

/* The target did not take the connection: 502 or 504 with the reason. */
static void
gw_target_failed(struct gw_conn *gc, short what, int err)
{
	struct gateway_verdict	v;

	bufferevent_free(gc->target);
	gc->target = NULL;
	gateway_target_failed(&gc->req, what, err, &v);
	gw_refuse_verdict(gc, &v);
}

static void
gw_on_target_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_conn		*gc = arg;
	struct evbuffer		*out = bufferevent_get_output(gc->bev);
	int			 err = EVUTIL_SOCKET_ERROR(), one = 1;

	if (!(what & BEV_EVENT_CONNECTED)) {
		gw_target_failed(gc, what, err);
		return;
	}
	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	bufferevent_set_max_single_read(bev, GW_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(bev, GW_MAX_SINGLE_IO);
	evbuffer_add_printf(out, "HTTP/1.1 200 Connection established\r\n\r\n");
	tls_write_gather(gc->bev);	/* a pass's records in one write(2) */
	if ((gc->tunnel = tunnel_new(gc->bev, bev, gc->gw->cfg->buffer_bytes,
	    gw_on_tunnel_done, gc)) == NULL) {
		evbuffer_drain(out, evbuffer_get_length(out));
		gw_target_failed(gc, 0, ENOMEM);
		return;
	}
	gc->target = NULL;
	gc->state = GW_TUNNEL;
	evtimer_del(gc->deadline);	/* tunnels stay up as long as both ends do */
	log_debug("%s: tunnel to %s (%s) open", gc->who.addr, gc->req.dest,
	    gc->req.host->target);
}

/* CONNECT host:port: identity, endpoint list, host table, then the target. */
static void
gw_connect(struct gw_conn *gc, struct evbuffer *in)
{
	struct gateway_verdict	v;

	gettimeofday(&gc->req.started, NULL);
	gateway_decide(gc->gw, &gc->who, gc->msg.raw + gc->msg.url.off,
	    gc->msg.url.len, &gc->req, &v);
	http_msg_head_consume(&gc->msg, in);
	if (v.status != 200) {
		gw_refuse_verdict(gc, &v);
		return;
	}
	if ((gc->target = bufferevent_socket_new(gc->gw->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		gw_refuse(gc, 500, "proxy_internal_error", "out of memory",
		    "out of memory");
		return;
	}
	gc->state = GW_CONNECTING;
	bufferevent_disable(gc->bev, EV_READ);
	bufferevent_setcb(gc->target, NULL, NULL, gw_on_target_event, gc);
	evtimer_add(gc->deadline, &gc->gw->connect_timeout);
	/* A failure may already have run gw_on_target_event. */
	if (bufferevent_socket_connect(gc->target,
	    (struct sockaddr *)&gc->req.host->addr, gc->req.host->addr_len) == -1 &&
	    gc->state == GW_CONNECTING)
		gw_target_failed(gc, 0, errno);
}

/* A request other than CONNECT: only the endpoint list lives here. */
static void
gw_request(struct gw_conn *gc, struct evbuffer *in)
{
	const struct gateway	*gw = gc->gw;
	const char		*url = gc->msg.raw + gc->msg.url.off;
	const char		*method = http_msg_method(&gc->msg);
	size_t			 path_len = 0;
	int			 keep_alive, get, head, origin_form, list;

	/* Everything from the raw head first: consuming it drains it. */
	while (path_len < gc->msg.url.len && url[path_len] != '?')
		path_len++;
	origin_form = gc->msg.url.len > 0 && url[0] == '/';
	list = path_len == strlen(GATEWAY_ENDPOINTS_PATH) &&
	    memcmp(url, GATEWAY_ENDPOINTS_PATH, path_len) == 0;
	head = strcmp(method, "HEAD") == 0;
	get = head || strcmp(method, "GET") == 0;
	keep_alive = http_msg_keep_alive(&gc->msg);
	/* A body we would not read ends the connection after the answer. */
	if (http_msg_head_consume(&gc->msg, in) != HTTP_STEP_DONE)
		keep_alive = 0;
	if (!origin_form) {
		gw_refuse(gc, 400, "http_request_error", "not a tunnel",
		    "the gateway only tunnels: send CONNECT host:port");
		return;
	}
	if (list) {
		if (get) {
			char	cache[64];

			snprintf(cache, sizeof(cache), "Cache-Control: max-age=%lld\r\n",
			    gw->cfg->refresh_seconds);
			gw_reply(gc, 200, "application/json", gw->endpoints_json,
			    strlen(gw->endpoints_json), head, keep_alive, cache);
			log_debug("%s: endpoint list sent (machine %s)", gc->who.addr,
			    gc->who.machine[0] ? gc->who.machine : "-");
		} else
			gw_reply(gc, 405, "text/plain", "use GET\n", 8, 0,
			    keep_alive, "Allow: GET, HEAD\r\n");
	} else
		gw_reply(gc, 404, "text/plain", "not found\n", 10, head,
		    keep_alive, NULL);
	if (gc->state == GW_REQUEST) {
		http_msg_init(&gc->msg, HTTP_REQUEST);
		evtimer_add(gc->deadline, &gw->head_timeout);
	}
}

static void
gw_on_read(struct bufferevent *bev, void *arg)
{
	struct gw_conn	*gc = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	long long	 max_head = gc->gw->cfg->max_head_bytes;

	if (gc->state == GW_CLOSING || gc->state == GW_LINGER) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	/* Each turn consumes a whole request head, so input bounds the loop. */
	while (gc->state == GW_REQUEST) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) >
		    GW_MAX_UNREAD) {
			/* Pipelined requests wait until the client reads. */
			bufferevent_disable(bev, EV_READ);
			return;
		}
		switch (http_msg_head(&gc->msg, in, max_head)) {
		case HTTP_STEP_MORE:
			return;
		case HTTP_STEP_TOO_LARGE:
			gw_refuse(gc, 400, "http_request_error", "head too large",
			    "request head larger than %lld bytes", max_head);
			return;
		case HTTP_STEP_HEAD:
			if (http_msg_is_connect(&gc->msg))
				gw_connect(gc, in);
			else
				gw_request(gc, in);
			break;
		default:
			gw_refuse(gc, 400, "http_request_error", "malformed request",
			    "malformed request: %s", http_msg_error(&gc->msg));
			return;
		}
	}
}

static void
gw_on_write(struct bufferevent *bev, void *arg)
{
	struct gw_conn	*gc = arg;

	if (gc->state == GW_REQUEST && !gc->peer_eof &&
	    !(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);	/* the answers drained */
		gw_on_read(bev, gc);
		return;
	}
	if (gc->state != GW_CLOSING ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	tls_shutdown_write(bev);
	if (gc->peer_eof) {
		gw_conn_free(gc);
		return;
	}
	/* Linger so that a reset does not eat the response (unread input). */
	gc->state = GW_LINGER;
	evtimer_add(gc->deadline, &gc->gw->linger);
	bufferevent_enable(bev, EV_READ);
}

/* The handshake is done: settle the identity, then HTTP/2 or HTTP/1.1. */
static void
gw_ready(struct gw_conn *gc)
{
	SSL			*ssl = bufferevent_openssl_get_ssl(gc->bev);
	const unsigned char	*alpn = NULL;
	unsigned		 alpn_len = 0;

	if (pki_peer_identity(ssl, gc->who.machine, sizeof(gc->who.machine),
	    gc->who.serial, sizeof(gc->who.serial), gc->who.why_anonymous,
	    sizeof(gc->who.why_anonymous)) == -1 &&
	    SSL_get0_peer_certificate(ssl) != NULL)
		log_info("%s: %s; the connection has no machine identity",
		    gc->who.addr, gc->who.why_anonymous);
	else if (gateway_revoked(gc->gw, &gc->who, gc->who.why_anonymous,
	    sizeof(gc->who.why_anonymous))) {
		log_info("%s: %s; the connection has no machine identity",
		    gc->who.addr, gc->who.why_anonymous);
		gc->who.machine[0] = '\0';
	}
	SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
	log_debug("%s: %s %s, ALPN %.*s, machine %s", gc->who.addr,
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl),
	    alpn_len ? (int)alpn_len : 4, alpn_len ? (const char *)alpn : "none",
	    gc->who.machine[0] ? gc->who.machine : "-");
	if (alpn_len == 2 && memcmp(alpn, "h2", 2) == 0) {
		if (gateway_h2_start(gc->gw, gc->bev, &gc->who) == -1) {
			log_warnx("%s: cannot start HTTP/2: out of memory",
			    gc->who.addr);
			gw_conn_free(gc);
			return;
		}
		gc->bev = NULL;		/* the HTTP/2 connection owns it */
		gw_conn_free(gc);
		return;
	}
	if (alpn_len == 0 && !gc->gw->cfg->serves_http1) {
		/* No ALPN means HTTP/1.1, which gateway.protocols leaves out. */
		log_warnx("%s: the client offers no ALPN; only h2 is served "
		    "(gateway.protocols), closing", gc->who.addr);
		gw_conn_free(gc);
		return;
	}
	gc->state = GW_REQUEST;
	http_msg_init(&gc->msg, HTTP_REQUEST);
	evtimer_add(gc->deadline, &gc->gw->head_timeout);
	bufferevent_set_max_single_read(gc->bev, GW_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(gc->bev, GW_MAX_SINGLE_IO);
	gw_on_read(gc->bev, gc);
}

static void
gw_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct gw_conn	*gc = arg;
	char		 errs[256];
	int		 err = EVUTIL_SOCKET_ERROR();

	if (gc->state == GW_HANDSHAKE) {
		if (what & BEV_EVENT_CONNECTED) {
			gw_ready(gc);
			return;
		}
		tls_bev_errors(bev, errs, sizeof(errs));
		if (errs[0] == '\0' && (what & BEV_EVENT_EOF))
			log_debug("%s: closed before the TLS handshake", gc->who.addr);
		else if (!gc->alpn_refused)
			log_warnx("%s: TLS handshake failed: %s", gc->who.addr,
			    errs[0] ? errs : evutil_socket_error_to_string(err));
		gw_conn_free(gc);
		return;
	}
	if ((what & BEV_EVENT_EOF) && (gc->state == GW_REQUEST ||
	    gc->state == GW_CLOSING) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* The client is done sending; it still gets its answers. */
		gc->peer_eof = 1;
		bufferevent_disable(bev, EV_READ);
		if (gc->state == GW_REQUEST)
			gw_close_after(gc);
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		tls_bev_errors(bev, errs, sizeof(errs));
		log_debug("%s: %s", gc->who.addr, errs[0] ? errs :
		    evutil_socket_error_to_string(err));
	}
	gw_conn_free(gc);
}

/* The state's time is up. */
static void
gw_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct gw_conn	*gc = arg;

	(void)fd;
	(void)what;
	switch (gc->state) {
	case GW_HANDSHAKE:
		log_warnx("%s: TLS handshake timed out", gc->who.addr);
		break;
	case GW_REQUEST:
		log_debug("%s: no request within %lld ms, closing", gc->who.addr,
		    gc->gw->cfg->head_timeout_ms);
		break;
	case GW_CONNECTING:
		gw_target_failed(gc, BEV_EVENT_TIMEOUT, ETIMEDOUT);
		return;
	case GW_CLOSING:
		log_debug("%s: the client does not read its response, closing",
		    gc->who.addr);
		break;
	default:
		break;
	}
	gw_conn_free(gc);
}

/* ALPN: the first of gateway.protocols that the client offers. */
static int
gw_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct gw_conn		*gc = SSL_get_app_data(ssl);
	const struct simconf	*cfg = gc->gw->cfg;
	char			 offered[128], served[64];

	(void)arg;
	if (tls_alpn_pick(cfg->alpn, cfg->alpn_len, in, inlen, out, outlen) == 0)
		return SSL_TLSEXT_ERR_OK;
	tls_alpn_text(in, inlen, offered, sizeof(offered));
	tls_alpn_text(cfg->alpn, cfg->alpn_len, served, sizeof(served));
	log_warnx("%s: the client offers ALPN \"%s\"; this gateway serves "
	    "\"%s\" (gateway.protocols), refusing the handshake", gc->who.addr,
	    offered, served);
	gc->alpn_refused = 1;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void
gw_on_accept(void *arg, evutil_socket_t fd, struct sockaddr *peer, int peerlen)
{
	struct gateway	*gw = arg;
	struct gw_conn	*gc;

	(void)peerlen;
	if ((gc = calloc(1, sizeof(*gc))) == NULL) {
		log_warnx("out of memory; dropping a connection");
		close(fd);
		return;
	}
	gc->gw = gw;
	gc->state = GW_HANDSHAKE;
	addr_format(peer, gc->who.addr, sizeof(gc->who.addr));
	snprintf(gc->who.why_anonymous, sizeof(gc->who.why_anonymous),
	    "no client certificate");
	if ((gc->deadline = evtimer_new(gw->base, gw_on_deadline, gc)) == NULL ||
	    (gc->bev = tls_accept(gw->base, gw->ctx, fd, gc)) == NULL) {
		log_warnx("%s: cannot set up TLS; dropping the connection",
		    gc->who.addr);
		if (gc->deadline != NULL)
			event_free(gc->deadline);
		close(fd);
		free(gc);
		return;
	}
	TAILQ_INSERT_TAIL(&gw->conns, gc, entry);
	bufferevent_setcb(gc->bev, gw_on_read, gw_on_write, gw_on_event, gc);
	/* No bufferevent timeouts: a tunnel must not inherit one (tunnel.h). */
	evtimer_add(gc->deadline, &gw->head_timeout);
	bufferevent_enable(gc->bev, EV_READ | EV_WRITE);
}

static void
gw_conn_free(struct gw_conn *gc)
{
	TAILQ_REMOVE(&gc->gw->conns, gc, entry);
	event_free(gc->deadline);
	if (gc->tunnel != NULL)
		tunnel_free(gc->tunnel);	/* it owns bev and the target */
	else {
		if (gc->target != NULL)
			bufferevent_free(gc->target);
		if (gc->bev != NULL)
			bufferevent_free(gc->bev);
	}
	free(gc);
}

/* {"endpoints":[...],"bypass":[...],"refresh_seconds":N} */
static char *
gw_endpoints_json(const struct simconf *cfg)
{
	const struct simconf_list *lists[] = { &cfg->endpoints, &cfg->bypass };
	const char		*names[] = { "endpoints", "bypass" };
	json_t			*doc, *arr;
	char			*text = NULL;
	int			 l, i;

	if ((doc = json_object()) == NULL)
		return NULL;
	for (l = 0; l < 2; l++) {
		if ((arr = json_array()) == NULL ||
		    json_object_set_new(doc, names[l], arr) == -1)
			goto fail;
		for (i = 0; i < lists[l]->count; i++)
			if (json_array_append_new(arr,
			    json_string(lists[l]->items[i])) == -1)
				goto fail;
	}
	if (json_object_set_new(doc, "refresh_seconds",
	    json_integer(cfg->refresh_seconds)) == -1)
		goto fail;
	text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
 fail:
	json_decref(doc);
	return text;
}

SSL_CTX *
gateway_tls(const struct simconf *cfg, char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if ((ctx = pki_server_ctx(cfg->pki_dir, "gateway", err, errlen)) != NULL)
		SSL_CTX_set_alpn_select_cb(ctx, gw_on_alpn, NULL);
	return ctx;
}

static const struct acceptor_ops gw_accept_ops = {
	gw_on_accept, NULL, "gateway"
};

struct gateway *
gateway_new(struct event_base *base, const struct simconf *cfg,
    struct registry *registry, char *err, size_t errlen)
{
	struct gateway	*gw;

	if ((gw = calloc(1, sizeof(*gw))) == NULL) {
		snprintf(err, errlen, "gateway: out of memory");
		return NULL;
	}
	fastio_malloc_tune();		/* the tunnels' buffers come and go */
	gw->base = base;
	gw->cfg = cfg;
	gw->registry = registry;
	TAILQ_INIT(&gw->conns);
	TAILQ_INIT(&gw->h2s);
	gw->head_timeout = gw_ms(cfg->head_timeout_ms);
	gw->connect_timeout = gw_ms(cfg->connect_timeout_ms);
	gw->linger = gw_ms(GW_LINGER_MS);
	if ((gw->endpoints_json = gw_endpoints_json(cfg)) == NULL) {
		snprintf(err, errlen, "gateway: cannot build the endpoint list");
		goto fail;
	}
	if ((gw->ctx = gateway_tls(cfg, err, errlen)) == NULL)
		goto fail;
	if ((gw->acceptor = acceptor_new(base, &gw_accept_ops, gw, err,
	    errlen)) == NULL || acceptor_listen(gw->acceptor,
	    (const struct sockaddr *)&cfg->gateway_listen, cfg->gateway_listen_len,
	    0, ACCEPTOR_BACKLOG, err, errlen) == -1)
		goto fail;
	return gw;
 fail:
	gateway_free(gw);
	return NULL;
}

void
gateway_stop(struct gateway *gw)
{
	acceptor_free(gw->acceptor);
	gw->acceptor = NULL;
	gateway_h2_goaway_all(gw);
}

void
gateway_free(struct gateway *gw)
{
	struct gw_conn	*gc;

	if (gw == NULL)
		return;
	acceptor_free(gw->acceptor);
	while ((gc = TAILQ_FIRST(&gw->conns)) != NULL)
		gw_conn_free(gc);
	gateway_h2_free_all(gw);
	SSL_CTX_free(gw->ctx);
	free(gw->endpoints_json);
	free(gw);
}
