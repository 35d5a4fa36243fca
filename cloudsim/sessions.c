/* sessions.c -- remote sessions: the operator's request, the session message down the machine's channel, relay.cloudsim.test where the machine joins, a loopback rendezvous where the operator joins, and `cloudsim remote`. */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "acceptor.h"
#include "addr.h"
#include "defaults.h"
#include "httpd.h"
#include "log.h"
#include "notify.h"
#include "pki.h"
#include "registry.h"
#include "sessions.h"
#include "simconf.h"
#include "tls.h"
#include "tunnel.h"

#define SESSIONS_MAX		64	/* live at once, all machines */
#define SESSION_LINE_MAX	600	/* a hello or token line */
#define SESSION_HELLO_MS	10000	/* a relay connection's hello */
#define SESSION_IO_BYTES	(256 * 1024)	/* one read or write at most */

struct session {
	LIST_ENTRY(session)	 entry;
	struct sessions		*ss;
	char			 id[33];
	char			 machine[REGISTRY_NAME_MAX];
	int			 port;
	char			 by[128];
	char			 op_token[65];		/* the operator presents it */
	char			 machine_token[65];	/* the machine presents it */
	struct acceptor		*rendezvous;		/* until the operator comes */
	char			 rendezvous_text[64];
	struct bufferevent	*op;		/* the operator's connection */
	int			 op_ready;	/* its token matched */
	struct bufferevent	*mach;		/* the machine's, through the gateway */
	struct tunnel		*tunnel;
	char			 refused[512];	/* why the machine said no */
	struct event		*timer;		/* not joined by then: ended */
	struct timespec		 created;
	int			 ending;	/* the refusal line is being written */
};

/* A connection to the relay before its hello names a session. */
struct relay_conn {
	LIST_ENTRY(relay_conn)	 entry;
	struct sessions		*ss;
	struct bufferevent	*bev;
	struct event		*timer;
	char			 peer[64];
};

struct sessions {
	struct event_base		*base;
	const struct simconf		*cfg;
	struct notify_conf		 conf;
	struct registry			*registry;
	struct notify_service		*notify;
	SSL_CTX				*ctx;
	struct acceptor			*relay;
	LIST_HEAD(, session)		 live;
	LIST_HEAD(, relay_conn)		 hellos;
	int				 nlive;
};

static long long
session_ms(const struct session *s)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - s->created.tv_sec) * 1000LL +
	    (now.tv_nsec - s->created.tv_nsec) / 1000000;
}

static int
random_hex(char *out, size_t bytes)
{
	unsigned char	raw[32];
	size_t		i;

	if (bytes > sizeof(raw) || RAND_bytes(raw, (int)bytes) != 1)
		return -1;
	for (i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static int
token_eq(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

static void
session_free(struct session *s, const char *why)
{
	log_info("session %s machine=%s port=%d by=%s ended: %s ms=%lld", s->id,
	    s->machine, s->port, s->by, why, session_ms(s));
	LIST_REMOVE(s, entry);
	s->ss->nlive--;
	acceptor_free(s->rendezvous);
	tunnel_free(s->tunnel);
	if (s->tunnel == NULL) {
		if (s->op != NULL)
			bufferevent_free(s->op);
		if (s->mach != NULL)
			bufferevent_free(s->mach);
	}
	if (s->timer != NULL)
		event_free(s->timer);
	free(s);
}

static struct session *
session_find(struct sessions *ss, const char *id)
{
	struct session	*s;

	LIST_FOREACH(s, &ss->live, entry)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

static void
session_on_tunnel(void *arg, const struct tunnel_result *r)
{
	struct session	*s = arg;
	char		 why[300];

	snprintf(why, sizeof(why), "%s up=%llu down=%llu", r->error ? r->error :
	    "both sides closed", (unsigned long long)r->up,
	    (unsigned long long)r->down);
	session_free(s, why);
}

/* Both sides are here: the operator hears OK, then bytes flow. */
static void
session_join(struct session *s)
{
	if (!s->op_ready || s->mach == NULL || s->tunnel != NULL)
		return;
	evtimer_del(s->timer);
	/* Bulk copies: fewer, larger reads and writes than libevent's 16 KiB. */
	bufferevent_set_max_single_read(s->op, SESSION_IO_BYTES);
	bufferevent_set_max_single_write(s->op, SESSION_IO_BYTES);
	bufferevent_set_max_single_read(s->mach, SESSION_IO_BYTES);
	bufferevent_set_max_single_write(s->mach, SESSION_IO_BYTES);
	evbuffer_add(bufferevent_get_output(s->op), "OK\n", 3);
	if ((s->tunnel = tunnel_new(s->op, s->mach,
	    (size_t)s->ss->conf.buffer_bytes, session_on_tunnel, s)) == NULL) {
		session_free(s, "out of memory");
		return;
	}
	log_info("session %s machine=%s port=%d: joined after %lld ms", s->id,
	    s->machine, s->port, session_ms(s));
}

static void
session_on_op_flushed(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	char		 why[600];

	(void)bev;
	snprintf(why, sizeof(why), "refused: %s", s->refused);
	session_free(s, why);
}

/* The operator hears the refusal (now, or when it comes), then it ends. */
static void
session_tell_refusal(struct session *s)
{
	if (!s->op_ready || s->ending)
		return;
	s->ending = 1;
	evbuffer_add_printf(bufferevent_get_output(s->op), "REFUSED %s\n",
	    s->refused);
	bufferevent_disable(s->op, EV_READ);
	bufferevent_setwatermark(s->op, EV_WRITE, 0, 0);
	bufferevent_setcb(s->op, NULL, session_on_op_flushed, NULL, s);
	bufferevent_enable(s->op, EV_WRITE);
}

static void
session_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	(void)what;
	if (s->refused[0] == '\0')
		snprintf(s->refused, sizeof(s->refused), "the machine did not "
		    "join the session within %lld ms", s->ss->conf.session_timeout_ms);
	if (s->op_ready && !s->ending) {
		session_tell_refusal(s);
		return;
	}
	session_free(s, s->refused);
}

static void
sessions_on_refused(void *arg, const char *machine, const char *id,
    const char *reason)
{
	struct sessions	*ss = arg;
	struct session	*s;

	if ((s = session_find(ss, id)) == NULL || strcmp(s->machine, machine) != 0 ||
	    s->tunnel != NULL) {
		log_info("machine %s refused session %.40s, which is not pending: "
		    "%.300s", machine, id, reason);
		return;
	}
	log_info("session %s machine=%s port=%d refused by the machine: %.400s",
	    s->id, machine, s->port, reason);
	snprintf(s->refused, sizeof(s->refused), "%.400s", reason);
	if (s->mach != NULL) {
		bufferevent_free(s->mach);
		s->mach = NULL;
	}
	if (s->op_ready)
		session_tell_refusal(s);
	/* Else the operator hears it when it comes (or the timer ends it). */
}

/* --- the operator's side: the rendezvous -------------------------------- */

static void
session_on_op_event(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;

	(void)bev;
	(void)what;
	session_free(s, "the operator left before the session was joined");
}

static void
session_on_op_read(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;
	char		*line;
	size_t		 len;

	if ((line = evbuffer_readln(bufferevent_get_input(bev), &len,
	    EVBUFFER_EOL_CRLF)) == NULL) {
		if (evbuffer_get_length(bufferevent_get_input(bev)) >
		    SESSION_LINE_MAX)
			session_free(s, "the operator sent no token");
		return;
	}
	if (!token_eq(line, s->op_token)) {
		free(line);
		snprintf(s->refused, sizeof(s->refused), "the operator's client "
		    "presented a wrong token");
		s->op_ready = 1;
		session_tell_refusal(s);
		return;
	}
	free(line);
	s->op_ready = 1;
	bufferevent_disable(bev, EV_READ);	/* until joined: bytes wait */
	if (s->refused[0] != '\0')
		session_tell_refusal(s);
	else
		session_join(s);
}

static void
session_on_rendezvous(void *arg, evutil_socket_t fd, struct sockaddr *peer,
    int peerlen)
{
	struct session	*s = arg;
	int		 one = 1;

	(void)peer;
	(void)peerlen;
	/* One operator connection per session: the listener goes now. */
	acceptor_free(s->rendezvous);
	s->rendezvous = NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evutil_make_socket_nonblocking(fd);
	if ((s->op = bufferevent_socket_new(s->ss->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		evutil_closesocket(fd);
		session_free(s, "out of memory");
		return;
	}
	bufferevent_setcb(s->op, session_on_op_read, NULL, session_on_op_event, s);
	bufferevent_enable(s->op, EV_READ | EV_WRITE);
}

static const struct acceptor_ops rendezvous_ops = {
	session_on_rendezvous, NULL, "sessions"
};

/* --- the machine's side: relay.cloudsim.test ----------------------------- */

static void
relay_conn_free(struct relay_conn *rc, int keep_bev)
{
	LIST_REMOVE(rc, entry);
	if (!keep_bev && rc->bev != NULL)
		bufferevent_free(rc->bev);
	if (rc->timer != NULL)
		event_free(rc->timer);
	free(rc);
}

static void
relay_refuse(struct relay_conn *rc, const char *why)
{
	log_info("relay %s: %s", rc->peer, why);
	evbuffer_add_printf(bufferevent_get_output(rc->bev), "ERR %s\r\n", why);
	/* Written on the next turn, then closed by the deadline. */
	bufferevent_setcb(rc->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(rc->bev, EV_READ);
	evtimer_del(rc->timer);
	{
		struct timeval	tv = { 0, 200000 };

		evtimer_add(rc->timer, &tv);
	}
}

static void
relay_on_read(struct bufferevent *bev, void *arg)
{
	struct relay_conn	*rc = arg;
	struct sessions		*ss = rc->ss;
	struct session		*s;
	char			*line, id[64], token[140], cn[REGISTRY_NAME_MAX];
	char			 serial[REGISTRY_SERIAL_MAX], why[300];
	size_t			 len;
	int			 ok;

	if ((line = evbuffer_readln(bufferevent_get_input(bev), &len,
	    EVBUFFER_EOL_CRLF)) == NULL) {
		if (evbuffer_get_length(bufferevent_get_input(bev)) >
		    SESSION_LINE_MAX)
			relay_refuse(rc, "no hello");
		return;
	}
	ok = sscanf(line, "SESSION %63s %139s", id, token) == 2;
	free(line);
	if (!ok) {
		relay_refuse(rc, "expected SESSION <id> <token>");
		return;
	}
	if (pki_peer_identity(bufferevent_openssl_get_ssl(bev), cn, sizeof(cn),
	    serial, sizeof(serial), why, sizeof(why)) == -1 ||
	    registry_cert_state(ss->registry, cn, serial, time(NULL), NULL,
	    NULL) != REGISTRY_CERT_MACHINE) {
		relay_refuse(rc, "machine certificate required");
		return;
	}
	if ((s = session_find(ss, id)) == NULL || strcmp(s->machine, cn) != 0 ||
	    !token_eq(token, s->machine_token) || s->mach != NULL ||
	    s->refused[0] != '\0') {
		relay_refuse(rc, "no such session pending for this machine");
		return;
	}
	explicit_bzero(token, sizeof(token));
	s->mach = bev;
	relay_conn_free(rc, 1);
	evbuffer_add(bufferevent_get_output(bev), "OK\r\n", 4);
	bufferevent_disable(bev, EV_READ);	/* until joined: bytes wait */
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	session_join(s);
}

static void
relay_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;		/* the TLS handshake is done */
	relay_conn_free(arg, 0);
}

static void
relay_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	relay_conn_free(arg, 0);
}

static void
relay_on_accept(void *arg, evutil_socket_t fd, struct sockaddr *peer,
    int peerlen)
{
	struct sessions		*ss = arg;
	struct relay_conn	*rc;
	struct timeval		 tv = { SESSION_HELLO_MS / 1000, 0 };

	(void)peerlen;
	if ((rc = calloc(1, sizeof(*rc))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	rc->ss = ss;
	LIST_INSERT_HEAD(&ss->hellos, rc, entry);
	addr_format(peer, rc->peer, sizeof(rc->peer));
	if ((rc->timer = evtimer_new(ss->base, relay_on_timer, rc)) == NULL ||
	    (rc->bev = tls_accept(ss->base, ss->ctx, fd, NULL)) == NULL) {
		if (rc->bev == NULL)
			evutil_closesocket(fd);
		relay_conn_free(rc, 0);
		return;
	}
	evtimer_add(rc->timer, &tv);
	bufferevent_setcb(rc->bev, relay_on_read, NULL, relay_on_event, rc);
	bufferevent_enable(rc->bev, EV_READ | EV_WRITE);
}

static const struct acceptor_ops relay_ops = {
	relay_on_accept, NULL, "sessions"
};

/* --- the operator API -------------------------------------------------- */

void
sessions_operator_post(struct sessions *ss, struct httpd_request *req,
    const char *machine)
{
	struct session		*s;
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct timeval		 tv;
	json_t			*body, *v, *msg;
	char			*text = NULL, err[256];
	long long		 port;
	size_t			 i;
	int			 fd;

	msg = NULL;
	if (ss == NULL) {
		httpd_error(req, 503, "SessionsOff", "the relay is off in this "
		    "cloudsim (notify.relay_listen is \"\")");
		return;
	}
	if (registry_find(ss->registry, machine) == NULL) {
		httpd_error(req, 404, "NotFound", "no machine named %.64s", machine);
		return;
	}
	if ((body = json_loadb(req->body, req->body_len, 0, NULL)) == NULL ||
	    !json_is_integer(v = json_object_get(body, "port")) ||
	    (port = json_integer_value(v)) < 1 || port > 65535) {
		json_decref(body);
		httpd_error(req, 400, "InvalidRequest", "expected {\"port\": "
		    "1-65535, \"requestedBy\"?: \"...\"}");
		return;
	}
	if (!notify_listening(ss->notify, machine)) {
		json_decref(body);
		httpd_error(req, 409, "MachineNotListening", "machine %s has no "
		    "notification channel open: it cannot be asked for a session",
		    machine);
		return;
	}
	if (ss->nlive >= SESSIONS_MAX) {
		json_decref(body);
		httpd_error(req, 503, "TooManySessions", "%d sessions are open",
		    ss->nlive);
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto oom;
	s->ss = ss;
	LIST_INSERT_HEAD(&ss->live, s, entry);
	ss->nlive++;
	clock_gettime(CLOCK_MONOTONIC, &s->created);
	snprintf(s->machine, sizeof(s->machine), "%s", machine);
	s->port = (int)port;
	if (json_is_string(v = json_object_get(body, "requestedBy")))
		snprintf(s->by, sizeof(s->by), "%s", json_string_value(v));
	else
		snprintf(s->by, sizeof(s->by), "operator@%s", req->peer);
	/* It goes into log lines, here and on the machine. */
	for (i = 0; s->by[i] != '\0'; i++)
		if ((unsigned char)s->by[i] < 0x20 || (unsigned char)s->by[i] > 0x7e)
			s->by[i] = '_';
	json_decref(body);
	body = NULL;
	if (random_hex(s->id, 16) == -1 || random_hex(s->op_token, 32) == -1 ||
	    random_hex(s->machine_token, 32) == -1)
		goto oom_s;
	/* The rendezvous: a loopback port of its own for the operator. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s->timer = evtimer_new(ss->base, session_on_timeout, s)) == NULL ||
	    (fd = addr_listen((struct sockaddr *)&sin, sizeof(sin), 0, 1, err,
	    sizeof(err))) == -1)
		goto oom_s;
	/* Port 0: the kernel's choice is what the operator is told. */
	if (getsockname(fd, (struct sockaddr *)&sin, &slen) == -1) {
		close(fd);
		goto oom_s;
	}
	if ((s->rendezvous = acceptor_new(ss->base, &rendezvous_ops, s, err,
	    sizeof(err))) == NULL) {
		close(fd);
		goto oom_s;
	}
	if (acceptor_add(s->rendezvous, fd, err, sizeof(err)) == -1)
		goto oom_s;
	addr_format((struct sockaddr *)&sin, s->rendezvous_text,
	    sizeof(s->rendezvous_text));
	if ((msg = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", "session",
	    "id", s->id, "port", s->port, "relay", ss->conf.relay_name, "token",
	    s->machine_token, "requestedBy", s->by)) == NULL ||
	    (text = json_dumps(msg, JSON_COMPACT)) == NULL) {
		json_decref(msg);
		goto oom_s;
	}
	json_decref(msg);
	if (notify_send(ss->notify, machine, text) == -1) {
		free(text);
		session_free(s, "the channel closed");
		httpd_error(req, 409, "MachineNotListening", "machine %s's "
		    "notification channel closed", machine);
		return;
	}
	free(text);
	tv.tv_sec = ss->conf.session_timeout_ms / 1000;
	tv.tv_usec = (ss->conf.session_timeout_ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
	log_info("session %s machine=%s port=%d by=%s: asked; rendezvous %s", s->id,
	    machine, s->port, s->by, s->rendezvous_text);
	httpd_reply(req, 201, json_pack("{s:s, s:s, s:i, s:s, s:s}", "id", s->id,
	    "machine", machine, "port", s->port, "rendezvous", s->rendezvous_text,
	    "token", s->op_token));
	return;
 oom_s:
	session_free(s, "cannot set up the rendezvous");
 oom:
	json_decref(body);
	httpd_error(req, 500, "InternalError", "cannot set up a session");
}

struct sessions *
sessions_new(struct event_base *base, const struct simconf *cfg,
    const struct notify_conf *conf, struct registry *registry,
    struct notify_service *notify, char *err, size_t errlen)
{
	struct sessions	*ss;

	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		snprintf(err, errlen, "sessions: out of memory");
		return NULL;
	}
	ss->base = base;
	ss->cfg = cfg;
	ss->conf = *conf;
	ss->registry = registry;
	ss->notify = notify;
	LIST_INIT(&ss->live);
	LIST_INIT(&ss->hellos);
	if ((ss->ctx = pki_server_ctx(cfg->pki_dir, "services", err,
	    errlen)) == NULL)
		goto fail;
	tls_server_alpn(ss->ctx, TLS_ALPN_HTTP11);
	if ((ss->relay = acceptor_new(base, &relay_ops, ss, err,
	    errlen)) == NULL || acceptor_listen(ss->relay,
	    (struct sockaddr *)&conf->relay_listen,
	    (socklen_t)conf->relay_listen_len, 0, ACCEPTOR_BACKLOG, err,
	    errlen) == -1)
		goto fail;
	notify_service_on_refused(notify, sessions_on_refused, ss);
	return ss;
 fail:
	sessions_free(ss);
	return NULL;
}

void
sessions_stop(struct sessions *ss)
{
	if (ss == NULL)
		return;
	acceptor_free(ss->relay);
	ss->relay = NULL;
}

void
sessions_free(struct sessions *ss)
{
	if (ss == NULL)
		return;
	acceptor_free(ss->relay);
	while (!LIST_EMPTY(&ss->live))
		session_free(LIST_FIRST(&ss->live), "cloudsim is stopping");
	while (!LIST_EMPTY(&ss->hellos))
		relay_conn_free(LIST_FIRST(&ss->hellos), 0);
	SSL_CTX_free(ss->ctx);
	free(ss);
}

/* --- cloudsim remote: the operator's client ----------------------------- */

static void
remote_usage(void)
{
	fprintf(stderr, "usage: cloudsim remote MACHINE PORT [--operator URL]\n"
	    "  joins stdin and stdout to a session to 127.0.0.1:PORT on MACHINE\n"
	    "  (ssh -o ProxyCommand='cloudsim remote MACHINE 22' ...); the\n"
	    "  operator API is http://" ARC_LISTEN_CLOUDSIM_OPERATOR " unless told\n");
	exit(2);
}

/* A TCP connection to host:port (numeric), blocking; -1 with errno. */
static int
remote_dial(const char *host, const char *port)
{
	struct addrinfo	 hints, *res;
	int		 fd, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1 &&
	    connect(fd, res->ai_addr, res->ai_addrlen) == -1) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd != -1)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
remote_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "host:port" (IPv6 in brackets) split in place. */
static int
remote_split(char *authority, char **host, char **port)
{
	char	*colon;

	if ((colon = strrchr(authority, ':')) == NULL)
		return -1;
	*colon = '\0';
	*port = colon + 1;
	*host = authority;
	if (**host == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		(*host)++;
	}
	return 0;
}

/* POST the session request; the answer's JSON, or NULL with the reason
 * printed. */
static json_t *
remote_request(const char *operator_url, const char *machine, int port)
{
	char		 authority[256], req[2048], body[512], *host, *pport;
	char		*resp = NULL, *p, *end;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	json_t		*doc = NULL, *e;
	struct passwd	*pw;
	int		 fd, status, blen;
	const char	*who;

	if (strncmp(operator_url, "http://", 7) != 0 ||
	    snprintf(authority, sizeof(authority), "%s", operator_url + 7) >=
	    (int)sizeof(authority)) {
		fprintf(stderr, "cloudsim remote: --operator: expected "
		    "http://host:port\n");
		return NULL;
	}
	authority[strcspn(authority, "/")] = '\0';
	if (remote_split(authority, &host, &pport) == -1) {
		fprintf(stderr, "cloudsim remote: --operator: expected "
		    "http://host:port\n");
		return NULL;
	}
	pw = getpwuid(getuid());
	who = pw != NULL ? pw->pw_name : "operator";
	blen = snprintf(body, sizeof(body), "{\"port\":%d,\"requestedBy\":"
	    "\"%s (cloudsim remote)\"}", port, who);
	snprintf(req, sizeof(req), "POST /operator/machines/%s/sessions HTTP/1.1\r\n"
	    "Host: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
	    "Connection: close\r\n\r\n%s", machine, operator_url + 7, blen, body);
	if ((fd = remote_dial(host, pport)) == -1) {
		fprintf(stderr, "cloudsim remote: operator API %s: %s\n",
		    operator_url, strerror(errno));
		return NULL;
	}
	if (remote_write_all(fd, req, strlen(req)) == -1)
		goto io;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (1 << 20) || (p = realloc(resp, cap)) == NULL)
				goto io;
			resp = p;
		}
		if ((n = read(fd, resp + len, cap - len - 1)) == -1) {
			if (errno == EINTR)
				continue;
			goto io;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		resp[len] = '\0';
		/* Enough once the head and Content-Length bytes are in. */
		if ((end = strstr(resp, "\r\n\r\n")) != NULL &&
		    (p = strcasestr(resp, "\r\ncontent-length:")) != NULL &&
		    p < end && (size_t)(end + 4 - resp) + strtoul(p + 17, NULL,
		    10) <= len)
			break;
	}
	close(fd);
	fd = -1;
	if (resp == NULL || sscanf(resp, "HTTP/1.%*d %d", &status) != 1 ||
	    (end = strstr(resp, "\r\n\r\n")) == NULL) {
		fprintf(stderr, "cloudsim remote: the operator API's answer is not "
		    "HTTP\n");
		goto fail;
	}
	doc = json_loads(end + 4, 0, NULL);
	if (status != 201) {
		e = json_object_get(json_object_get(doc, "error"), "message");
		fprintf(stderr, "cloudsim remote: %s %d: %s\n", machine, port,
		    json_is_string(e) ? json_string_value(e) : "the operator API "
		    "refused");
		json_decref(doc);
		doc = NULL;
	}
	goto fail;
 io:
	fprintf(stderr, "cloudsim remote: operator API %s: %s\n", operator_url,
	    errno ? strerror(errno) : "the answer is too long");
 fail:
	if (fd != -1)
		close(fd);
	free(resp);
	return doc;
}

/* Bytes both ways until the session's socket says EOF. */
static int
remote_pump(int sock)
{
	struct pollfd	 pfd[2];
	char		 buf[65536];
	ssize_t		 n;
	int		 in_open = 1;

	for (;;) {
		pfd[0].fd = in_open ? 0 : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = sock;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((n = read(0, buf, sizeof(buf))) <= 0) {
				/* The client is done sending: a half-close. */
				in_open = 0;
				shutdown(sock, SHUT_WR);
			} else if (remote_write_all(sock, buf, (size_t)n) == -1)
				return 1;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((n = read(sock, buf, sizeof(buf))) == -1) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "cloudsim remote: the session "
				    "failed: %s\n", strerror(errno));
				return 1;
			}
			if (n == 0)
				return 0;
			if (remote_write_all(1, buf, (size_t)n) == -1)
				return 1;
		}
	}
}

int
sessions_remote_main(int argc, char *argv[])
{
	const char	*operator_url = "http://" ARC_LISTEN_CLOUDSIM_OPERATOR;
	const char	*machine = NULL, *port_text = NULL;
	char		 rv[64], line[SESSION_LINE_MAX], *host, *pport, *end;
	json_t		*doc;
	long		 port;
	size_t		 len = 0;
	ssize_t		 n;
	int		 i, fd, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--operator") == 0 && i + 1 < argc)
			operator_url = argv[++i];
		else if (argv[i][0] == '-')
			remote_usage();
		else if (machine == NULL)
			machine = argv[i];
		else if (port_text == NULL)
			port_text = argv[i];
		else
			remote_usage();
	}
	if (machine == NULL || port_text == NULL)
		remote_usage();
	port = strtol(port_text, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535 ||
	    !registry_name_ok(machine))
		remote_usage();
	signal(SIGPIPE, SIG_IGN);
	if ((doc = remote_request(operator_url, machine, (int)port)) == NULL)
		return 1;
	snprintf(rv, sizeof(rv), "%s", json_string_value(json_object_get(doc,
	    "rendezvous")) ? json_string_value(json_object_get(doc,
	    "rendezvous")) : "");
	snprintf(line, sizeof(line), "%s\n", json_string_value(json_object_get(doc,
	    "token")) ? json_string_value(json_object_get(doc, "token")) : "");
	json_decref(doc);
	if (remote_split(rv, &host, &pport) == -1 ||
	    (fd = remote_dial(host, pport)) == -1) {
		fprintf(stderr, "cloudsim remote: rendezvous %s: %s\n", rv,
		    strerror(errno));
		return 1;
	}
	if (remote_write_all(fd, line, strlen(line)) == -1)
		goto io;
	/* The first line: OK once the machine joined, or REFUSED why. */
	while (len + 1 < sizeof(line)) {
		if ((n = read(fd, line + len, 1)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (line[len++] == '\n')
			break;
	}
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strcmp(line, "OK") != 0) {
		fprintf(stderr, "cloudsim remote: %s port %ld: %s\n", machine, port,
		    strncmp(line, "REFUSED ", 8) == 0 ? line + 8 :
		    "the session ended before it was joined");
		close(fd);
		return 1;
	}
	rc = remote_pump(fd);
	close(fd);
	return rc;
 io:
	fprintf(stderr, "cloudsim remote: rendezvous %s: %s\n", rv, strerror(errno));
	close(fd);
	return 1;
}
