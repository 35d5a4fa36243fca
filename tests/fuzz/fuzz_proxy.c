/* fuzz_proxy.c -- conn.c's use of lib/http.c replayed on one input stream, and what the next hop reads checked against what the sender meant, message by message. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_http.h"
#include "http.h"

/* What was forwarded for one message, for the report when a check fails. */
static const char	*fz_sent;
static size_t		 fz_sent_len;
static const uint8_t	*fz_input;
static size_t		 fz_input_len;

#define FZ_BAD(...) do {						\
	fz_show("received", fz_input, fz_input_len);			\
	fz_show("forwarded", fz_sent, fz_sent_len);			\
	fz_fail(__VA_ARGS__);						\
} while (0)

enum fz_fate {
	FZ_KEEP,	/* end-to-end: passes unchanged */
	FZ_MAY_DROP,	/* the proxy may keep or drop it */
	FZ_DROP,	/* must not pass */
	FZ_FRAMING,	/* Content-Length, Transfer-Encoding: judged by meaning */
};

static int
fz_is(const struct fz_buf *b, const char *name)
{
	size_t	len = strlen(name);

	return b->len == len && strncasecmp(b->p, name, len) == 0;
}

static int
fz_eq(const struct fz_buf *a, const struct fz_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static const char *
fz_str(const struct fz_buf *b)
{
	return b->len ? b->p : "";
}

/* Calls fn on each element of a list (RFC 9110 5.6.1: commas, OWS around). */
static int
fz_list_each(const struct fz_buf *list, int (*fn)(const char *, size_t, void *),
    void *arg)
{
	const char	*p = fz_str(list);
	size_t		 i = 0, start, end;

	while (i < list->len) {
		while (i < list->len && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
			i++;
		start = i;
		while (i < list->len && p[i] != ',')
			i++;
		end = i;
		while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		if (end > start && fn(p + start, end - start, arg))
			return 1;
	}
	return 0;
}

static int
fz_elem_is(const char *e, size_t len, void *arg)
{
	const struct fz_buf *name = arg;

	return len == name->len && strncasecmp(e, name->p, len) == 0;
}

/* Does a Connection field of m name this field? */
static int
fz_connection_names(const struct fz_msg *m, const struct fz_buf *name)
{
	int	i;

	for (i = 0; i < m->nfields; i++)
		if (fz_is(&m->fields[i].name, "connection") &&
		    fz_list_each(&m->fields[i].value, fz_elem_is, (void *)name))
			return 1;
	return 0;
}

static int
fz_is_framing(const struct fz_field *f)
{
	return fz_is(&f->name, "content-length") ||
	    fz_is(&f->name, "transfer-encoding");
}

/*
 * RFC 9110 7.6.2: an OPTIONS or TRACE request's one Max-Forwards of
 * 1*DIGIT goes on one less (at 0 the proxy answers itself: not here, where
 * everything is forwarded).  *hops the received count, capped as the proxy
 * caps it; 0 when the field goes on as it came.
 */
static int
fz_max_forwards(const struct fz_msg *m, unsigned long *hops)
{
	const struct fz_field	*f = NULL;
	size_t			 k;
	int			 i, n = 0;

	if (m->method != HTTP_OPTIONS && m->method != HTTP_TRACE)
		return 0;
	for (i = 0; i < m->nfields; i++)
		if (fz_is(&m->fields[i].name, "max-forwards")) {
			f = &m->fields[i];
			n++;
		}
	if (n != 1 || f->value.len == 0)
		return 0;
	*hops = 0;
	for (k = 0; k < f->value.len; k++) {
		if (f->value.p[k] < '0' || f->value.p[k] > '9')
			return 0;
		if (*hops < 100000000)
			*hops = *hops * 10 + (unsigned long)(f->value.p[k] - '0');
	}
	return *hops > 0;
}

/*
 * RFC 9110 7.6.1: Connection, the connection-specific fields it lists
 * (Proxy-Connection, Keep-Alive, TE, Upgrade) and every field a Connection
 * option names go; Host is rewritten from the target (RFC 9112 3.2.2).  The
 * proxy may also keep Trailer and the proxy's own credentials to itself.
 * The framing fields may be copied or written anew: fz_check_framing_fields()
 * judges what they say, and the body check where the message ends.
 */
static enum fz_fate
fz_fate(const struct fz_msg *m, const struct fz_field *f, int keep_upgrade,
    int request)
{
	static const char *const must_drop[] = { "connection", "proxy-connection",
	    "keep-alive", "te", "upgrade", NULL };
	static const char *const may_drop[] = { "trailer", "proxy-authorization",
	    "proxy-authenticate", NULL };
	unsigned long	hops;
	int		i;

	if (fz_is_framing(f))
		return FZ_FRAMING;
	if (request && fz_is(&f->name, "host"))
		return FZ_DROP;
	if (request && fz_is(&f->name, "max-forwards") && fz_max_forwards(m, &hops))
		return FZ_DROP;		/* written again after the others */
	if (keep_upgrade && fz_is(&f->name, "upgrade"))
		return FZ_KEEP;
	for (i = 0; must_drop[i] != NULL; i++)
		if (fz_is(&f->name, must_drop[i]))
			return FZ_DROP;
	if (fz_connection_names(m, &f->name))
		return FZ_DROP;
	for (i = 0; may_drop[i] != NULL; i++)
		if (fz_is(&f->name, may_drop[i]))
			return FZ_MAY_DROP;
	return FZ_KEEP;
}

/* The received fields against the forwarded ones in [from, to), framing aside. */
static void
fz_check_fields(const struct fz_msg *ref, const struct fz_msg *fwd, int from,
    int to, int keep_upgrade, int request)
{
	const struct fz_field	*f, *g;
	enum fz_fate		 fate;
	unsigned long		 hops;
	int			 i, j = from, mf;

	/* A rewritten Max-Forwards is checked apart (fz_check_request). */
	mf = request && fz_max_forwards(ref, &hops);
#define FZ_SKIP(g)	(fz_is_framing(g) || (mf && fz_is(&(g)->name, "max-forwards")))
	for (i = 0; i < ref->nfields; i++) {
		f = &ref->fields[i];
		fate = fz_fate(ref, f, keep_upgrade, request);
		if (fate == FZ_DROP || fate == FZ_FRAMING)
			continue;
		while (j < to && FZ_SKIP(&fwd->fields[j]))
			j++;
		g = j < to ? &fwd->fields[j] : NULL;
		if (g != NULL && fz_eq(&f->name, &g->name) && fz_eq(&f->value, &g->value)) {
			j++;
			continue;
		}
		if (fate == FZ_MAY_DROP)
			continue;
		FZ_BAD("the field \"%s: %s\" did not pass unchanged (found \"%s: %s\")",
		    fz_str(&f->name), fz_str(&f->value),
		    g ? fz_str(&g->name) : "(end)", g ? fz_str(&g->value) : "");
	}
	while (j < to && FZ_SKIP(&fwd->fields[j]))
		j++;
#undef FZ_SKIP
	if (j < to) {
		g = &fwd->fields[j];
		FZ_BAD("the forwarded field \"%s: %s\" was not received (or must go)",
		    fz_str(&g->name), fz_str(&g->value));
	}
}

/* The transfer codings of a message other than chunked, lower case, ", " between. */
struct fz_codings {
	char	text[FZ_MAX_HEAD + 64];
	size_t	len;
};

static int
fz_coding_add(const char *e, size_t len, void *arg)
{
	struct fz_codings	*c = arg;
	size_t			 i;

	if (len == 7 && strncasecmp(e, "chunked", 7) == 0)
		return 0;
	if (c->len + len + 2 >= sizeof(c->text))
		return 1;
	if (c->len > 0) {
		memcpy(c->text + c->len, ", ", 2);
		c->len += 2;
	}
	for (i = 0; i < len; i++)
		c->text[c->len++] = (char)tolower((unsigned char)e[i]);
	c->text[c->len] = '\0';
	return 0;
}

static int
fz_codings(const struct fz_msg *m, struct fz_codings *c)
{
	int	i, n = 0;

	c->len = 0;
	c->text[0] = '\0';
	for (i = 0; i < m->nfields; i++)
		if (fz_is(&m->fields[i].name, "transfer-encoding")) {
			fz_list_each(&m->fields[i].value, fz_coding_add, c);
			n++;
		}
	return n;
}

/* The value of the Content-Length fields, -1 when absent, -2 when not one number. */
static long long
fz_content_length(const struct fz_msg *m)
{
	const struct fz_buf	*v;
	long long		 n, all = -1;
	size_t			 i, len;
	int			 j;

	for (j = 0; j < m->nfields; j++) {
		if (!fz_is(&m->fields[j].name, "content-length"))
			continue;
		v = &m->fields[j].value;
		/* RFC 9110 5.5: the value is without its trailing OWS. */
		for (len = v->len; len > 0 && (v->p[len - 1] == ' ' ||
		    v->p[len - 1] == '\t'); len--)
			;
		if (len == 0)
			return -2;
		/* Any number of digits (leading zeros are legal, and the
		 * parser takes up to 2^64 - 1): past LLONG_MAX it saturates. */
		for (n = 0, i = 0; i < len; i++) {
			if (v->p[i] < '0' || v->p[i] > '9')
				return -2;
			if (n > (LLONG_MAX - 9) / 10)
				n = LLONG_MAX;
			else
				n = n * 10 + (v->p[i] - '0');
		}
		if (all != -1 && all != n)
			return -2;
		all = n;
	}
	return all;
}

/*
 * What the framing fields say survives: the Content-Length of a message
 * without a body (HEAD, 304) and the transfer codings other than chunked
 * (dropping gzip would hand over coded bytes unlabelled).  An HTTP/1.0 client
 * gets no Transfer-Encoding at all (RFC 9112 6.1).
 */
static void
fz_check_framing_fields(const struct fz_msg *ref, const struct fz_msg *fwd,
    int bodiless, int http10)
{
	struct fz_codings	 a, b;
	struct fz_buf		 te = { (char *)"transfer-encoding", 17, 0 };
	long long		 want, got;
	int			 has_te;

	got = fz_content_length(fwd);
	if (got == -2)
		FZ_BAD("the forwarded Content-Length is not one 1*DIGIT value");
	want = fz_content_length(ref);
	if (bodiless && want >= 0 && got >= 0 && want != got)
		FZ_BAD("Content-Length %lld forwarded as %lld", want, got);
	has_te = fz_codings(fwd, &b);
	if (http10 && has_te)
		FZ_BAD("Transfer-Encoding sent to an HTTP/1.0 client "
		    "(RFC 9112 6.1)");
	if (bodiless || fz_connection_names(ref, &te))
		return;
	fz_codings(ref, &a);
	if (a.len != b.len || memcmp(a.text, b.text, a.len) != 0)
		FZ_BAD("transfer codings \"%s\" forwarded as \"%s\"", a.text,
		    b.text);
}

/* Trailers may be dropped (RFC 9110 6.5.1), not changed or made up. */
static void
fz_check_trailers(const struct fz_msg *ref, const struct fz_msg *fwd)
{
	int	i, j = 0;

	for (i = 0; i < fwd->ntrailers; i++) {
		while (j < ref->ntrailers &&
		    (!fz_eq(&ref->trailers[j].name, &fwd->trailers[i].name) ||
		    !fz_eq(&ref->trailers[j].value, &fwd->trailers[i].value)))
			j++;
		if (j == ref->ntrailers)
			FZ_BAD("the trailer field \"%s: %s\" was not received",
			    fz_str(&fwd->trailers[i].name),
			    fz_str(&fwd->trailers[i].value));
		j++;
	}
}

static void
fz_check_body(const struct fz_msg *ref, const struct fz_msg *fwd)
{
	if (fwd->body.len > ref->body.len || (fwd->body.len > 0 &&
	    memcmp(fwd->body.p, ref->body.p, fwd->body.len) != 0)) {
		fz_show("body received", ref->body.p, ref->body.len);
		fz_show("body read after forwarding", fwd->body.p, fwd->body.len);
		FZ_BAD("the body read after forwarding is not what was received");
	}
	if (fwd->complete && ref->complete && fwd->body.len != ref->body.len) {
		fz_show("body received", ref->body.p, ref->body.len);
		fz_show("body read after forwarding", fwd->body.p, fwd->body.len);
		FZ_BAD("the body read after forwarding is %zu bytes, %zu received",
		    fwd->body.len, ref->body.len);
	}
}

/* Forwarded chunked framing is what every reader of RFC 9112 7.1 reads the same way. */
static void
fz_check_chunked(const struct fz_msg *fwd, const char *body, size_t len, int done)
{
	size_t	end;
	int	r;

	if (!fwd->chunked)
		return;
	r = fz_chunked_valid(body, len, &end);
	if (r == -1) {
		fz_show("chunked body forwarded", body, len);
		FZ_BAD("the forwarded chunked framing is not RFC 9112 7.1 chunked");
	}
	if (done && (r != 1 || end != len)) {
		fz_show("chunked body forwarded", body, len);
		FZ_BAD("the forwarded chunked body does not end where the message does");
	}
}

/* origin-form (or asterisk-form) and Host as RFC 9112 3.2.1, 3.2.2 and 3.2.4 derive them from the absolute-form. */
static void
fz_check_target(const struct fz_msg *ref, const struct fz_msg *fwd)
{
	struct http_parser_url	 u;
	const char		*url = fz_str(&ref->url), *a, *e;
	char			 path[FZ_MAX_HEAD + 2];
	size_t			 plen, alen;

	http_parser_url_init(&u);
	if (http_parser_parse_url(url, ref->url.len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_SCHEMA)) || u.field_data[UF_SCHEMA].len != 4 ||
	    strncasecmp(url + u.field_data[UF_SCHEMA].off, "http", 4) != 0)
		FZ_BAD("forwarded a request whose target \"%s\" is not absolute http",
		    url);
	if (u.field_set & (1 << UF_PATH)) {
		plen = ((u.field_set & (1 << UF_QUERY)) ?
		    (size_t)u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len :
		    (size_t)u.field_data[UF_PATH].off + u.field_data[UF_PATH].len) -
		    u.field_data[UF_PATH].off;
		memcpy(path, url + u.field_data[UF_PATH].off, plen);
	} else if (u.field_set & (1 << UF_QUERY)) {
		plen = u.field_data[UF_QUERY].len + 2;
		path[0] = '/';
		path[1] = '?';
		memcpy(path + 2, url + u.field_data[UF_QUERY].off, plen - 2);
	} else {
		/* The server as a whole for OPTIONS (RFC 9112 3.2.4). */
		plen = 1;
		path[0] = ref->method == HTTP_OPTIONS ? '*' : '/';
	}
	if (fwd->url.len != plen || memcmp(fwd->url.p, path, plen) != 0)
		FZ_BAD("target \"%s\" forwarded as \"%s\", not \"%.*s\"", url,
		    fz_str(&fwd->url), (int)plen, path);
	/* The authority: after "//", up to "/", "?" or "#", without userinfo. */
	a = strstr(url, "//") + 2;
	for (e = a; *e != '\0' && *e != '/' && *e != '?' && *e != '#'; e++)
		;
	alen = (size_t)(e - a);
	if (memrchr(a, '@', alen) != NULL) {
		alen -= (size_t)((const char *)memrchr(a, '@', alen) + 1 - a);
		a = e - alen;
	}
	if (fwd->nfields < 1 || !fz_is(&fwd->fields[0].name, "host"))
		FZ_BAD("the forwarded request does not start with Host");
	if (fwd->fields[0].value.len != alen ||
	    memcmp(fwd->fields[0].value.p, a, alen) != 0)
		FZ_BAD("Host forwarded as \"%s\" for target \"%s\"",
		    fz_str(&fwd->fields[0].value), url);
}

static int
fz_is_via(const struct fz_field *f)
{
	return fz_is(&f->name, "via");
}

static void
fz_check_request(const struct fz_msg *ref, const char *sent, size_t len,
    size_t head_len, enum http_step step, int upgrade)
{
	struct fz_parse		 fp;
	const struct fz_msg	*m;
	unsigned long		 hops;
	int			 to, j, n;

	fz_sent = sent;
	fz_sent_len = len;
	fz_parse(&fp, HTTP_REQUEST, sent, len, 0);
	if (fp.error != HPE_OK)
		FZ_BAD("the forwarded request does not parse: %s",
		    http_errno_name(fp.error));
	if (fp.n != 1)
		FZ_BAD("the forwarded bytes read as %d requests", fp.n);
	if (fp.consumed != len)
		FZ_BAD("%zu forwarded bytes follow the request", len - fp.consumed);
	m = &fp.msgs[0];
	if (step == HTTP_STEP_DONE && !m->complete)
		FZ_BAD("the request ended at the proxy but not at the next hop");
	if (step != HTTP_STEP_DONE && m->complete)
		FZ_BAD("the next hop read a whole request the proxy has not finished");
	if (m->method != ref->method)
		FZ_BAD("method %s forwarded as %s",
		    http_method_str((enum http_method)ref->method),
		    http_method_str((enum http_method)m->method));
	if (m->major != 1 || m->minor != 1)
		FZ_BAD("forwarded as HTTP/%u.%u, not the proxy's HTTP/1.1",
		    m->major, m->minor);
	fz_check_target(ref, m);
	to = m->nfields;
	if (to < 2 || !fz_is_via(&m->fields[to - 1]))
		FZ_BAD("the forwarded request does not end with the proxy's Via");
	to--;
	if (upgrade) {
		if (!fz_is(&m->fields[to - 1].name, "connection") ||
		    !fz_is(&m->fields[to - 1].value, "upgrade"))
			FZ_BAD("an upgrade forwarded without Connection: upgrade");
		to--;
	}
	for (j = 1; j < to; j++)
		if (fz_is(&m->fields[j].name, "host"))
			FZ_BAD("two Host fields forwarded");
	fz_check_fields(ref, m, 1, to, upgrade, 1);
	if (fz_max_forwards(ref, &hops)) {
		for (j = 1, n = 0; j < to; j++)
			if (fz_is(&m->fields[j].name, "max-forwards")) {
				n++;
				if (strtoul(fz_str(&m->fields[j].value), NULL, 10) != hops - 1)
					FZ_BAD("Max-Forwards %lu forwarded as %s, not %lu",
					    hops, fz_str(&m->fields[j].value), hops - 1);
			}
		if (n != 1)
			FZ_BAD("Max-Forwards %lu forwarded in %d fields", hops, n);
	}
	fz_check_framing_fields(ref, m, 0, 0);
	fz_check_body(ref, m);
	if (m->complete)
		fz_check_trailers(ref, m);
	fz_check_chunked(m, sent + head_len, len - head_len,
	    step == HTTP_STEP_DONE);
	fz_parse_free(&fp);
}

void
fz_request_stream(const uint8_t *data, size_t size, int whole)
{
	struct evbuffer		*in, *out;
	struct fz_feed		 feed;
	struct fz_parse		 ref;
	struct http_msg		 m;
	struct http_target	 t;
	enum http_step		 step;
	size_t			 start = 0, end, moved, head_len;
	int			 k, keep, upgrade;

	fz_input = data;
	fz_input_len = size;
	if ((in = evbuffer_new()) == NULL)
		abort();
	fz_feed_init(&feed, data, size, in, whole);
	for (k = 0; k < FZ_MAX_MSGS; k++) {
		/* conn_head() */
		http_msg_init(&m, HTTP_REQUEST);
		while ((step = http_msg_head(&m, in, FZ_MAX_HEAD)) == HTTP_STEP_MORE)
			if (!fz_feed_next(&feed))
				goto out;
		if (step != HTTP_STEP_HEAD)
			break;
		/* conn_route(): CONNECT is a tunnel, not rewritten. */
		if (http_msg_is_connect(&m) || http_msg_target(&m, &t) != 0)
			break;
		keep = http_msg_keep_alive(&m);
		/* An HTTP/1.0 request's Upgrade is ignored (RFC 9110 7.8). */
		upgrade = http_msg_is_upgrade(&m);
		fz_parse(&ref, HTTP_REQUEST, (const char *)data + start, size - start,
		    FZ_ONE);
		if (ref.n < 1 || !ref.msgs[0].head_done) {
			fz_sent = NULL;
			fz_sent_len = 0;
			FZ_BAD("lib/http.c read a request head that http-parser "
			    "rejects: %s", http_errno_name(ref.error));
		}
		if ((out = evbuffer_new()) == NULL)
			abort();
		http_write_request(&m, &t, out);
		head_len = evbuffer_get_length(out);
		/* conn_route() sends nothing when the head's end is refused;
		 * then conn_req_body() as the client's reads arrive. */
		if ((step = http_msg_head_consume(&m, in)) == HTTP_STEP_ERROR) {
			fz_parse_free(&ref);
			evbuffer_free(out);
			break;
		}
		while (step == HTTP_STEP_MORE) {
			if (evbuffer_get_length(in) == 0 && !fz_feed_next(&feed))
				break;
			step = http_msg_body(&m, in, out, &moved);
			if (step == HTTP_STEP_MORE && moved == 0 && !fz_feed_next(&feed))
				break;
		}
		end = feed.added - evbuffer_get_length(in);
		fz_sent = (const char *)evbuffer_pullup(out, -1);
		fz_sent_len = evbuffer_get_length(out);
		if (step == HTTP_STEP_DONE && (!ref.msgs[0].complete ||
		    ref.msgs[0].end != end - start))
			FZ_BAD("lib/http.c ended request %d after %zu bytes, "
			    "http-parser after %zu", k, end - start,
			    ref.msgs[0].complete ? ref.msgs[0].end : 0);
		if (step == HTTP_STEP_MORE && ref.msgs[0].complete)
			FZ_BAD("lib/http.c still waits for request %d, which "
			    "http-parser read whole", k);
		fz_check_request(&ref.msgs[0], fz_sent, fz_sent_len, head_len,
		    step, upgrade);
		fz_parse_free(&ref);
		evbuffer_free(out);
		if (step != HTTP_STEP_DONE || !keep || upgrade)
			break;
		start = end;
	}
 out:
	evbuffer_free(in);
}

enum fz_kind {
	FZ_INFO,	/* 1xx: passed on, the final one follows */
	FZ_SWITCH,	/* 101 to an upgrade: the tunnel follows */
	FZ_FINAL,
};

struct fz_rec {
	enum fz_kind	 kind;
	struct fz_parse	 ref;		/* the received message alone */
	size_t		 start, end;	/* in the input */
	size_t		 head_off, head_end;	/* in what was forwarded */
	enum http_step	 step;
	int		 keep;
	int		 dechunk;
	int		 at_eof;	/* ended by the upstream's close */
};

static void
fz_check_response(const struct fz_rec *r, const struct fz_msg *m,
    const char *body, size_t body_len, int http10, int head)
{
	const struct fz_msg	*ref = &r->ref.msgs[0];
	const char		*conn = NULL;
	int			 to;

	if (m->status != ref->status)
		FZ_BAD("status %u forwarded as %u", ref->status, m->status);
	if (!fz_eq(&m->url, &ref->url))
		FZ_BAD("reason \"%s\" forwarded as \"%s\"", fz_str(&ref->url),
		    fz_str(&m->url));
	if (m->major != 1 || m->minor != 1)
		FZ_BAD("forwarded as HTTP/%u.%u, not the proxy's HTTP/1.1",
		    m->major, m->minor);
	if (r->step == HTTP_STEP_DONE && !m->complete)
		FZ_BAD("the response ended at the proxy but not at the client");
	if (r->step != HTTP_STEP_DONE && m->complete)
		FZ_BAD("the client read a whole response the proxy has not finished");
	to = m->nfields;
	if (to < 1 || !fz_is_via(&m->fields[to - 1]))
		FZ_BAD("the forwarded response does not end with the proxy's Via");
	to--;
	if (r->kind == FZ_SWITCH)
		conn = "upgrade";
	else if (r->kind == FZ_FINAL && !r->keep)
		conn = "close";
	else if (r->kind == FZ_FINAL && http10)
		conn = "keep-alive";
	if (conn != NULL) {
		if (to < 1 || !fz_is(&m->fields[to - 1].name, "connection") ||
		    !fz_is(&m->fields[to - 1].value, conn))
			FZ_BAD("the response lacks the proxy's Connection: %s", conn);
		to--;
	}
	fz_check_fields(ref, m, 0, to, r->kind == FZ_SWITCH, 0);
	fz_check_framing_fields(ref, m, ref->status / 100 == 1 ||
	    ref->status == 204 || ref->status == 304 || head, http10);
	fz_check_body(ref, m);
	if (m->complete)
		fz_check_trailers(ref, m);
	if (r->kind == FZ_FINAL && m->complete && m->keep_alive != r->keep)
		FZ_BAD("the proxy %s the connection but the client reads %s",
		    r->keep ? "keeps" : "closes", m->keep_alive ?
		    "keep-alive" : "close");
	fz_check_chunked(m, body, body_len, r->step == HTTP_STEP_DONE);
}

void
fz_response_stream(const uint8_t *data, size_t size, int ctx, int whole)
{
	struct evbuffer		*in, *out;
	struct fz_feed		 feed;
	struct fz_rec		 recs[FZ_MAX_MSGS], *r;
	struct fz_parse		 fp;
	struct http_msg		 m;
	enum http_step		 step;
	size_t			 start = 0, moved, next;
	int			 n = 0, i, flags, head = ctx & FZ_RESP_HEAD;
	int			 http10 = (ctx & FZ_RESP_HTTP10) != 0;

	fz_input = data;
	fz_input_len = size;
	if ((in = evbuffer_new()) == NULL || (out = evbuffer_new()) == NULL)
		abort();
	fz_feed_init(&feed, data, size, in, whole);
	http_msg_init(&m, HTTP_RESPONSE);
	m.skip_body = head;
	/* conn_resp() */
	while (n < FZ_MAX_MSGS) {
		while ((step = http_msg_head(&m, in, FZ_MAX_HEAD)) == HTTP_STEP_MORE)
			if (!fz_feed_next(&feed))
				goto check;
		if (step != HTTP_STEP_HEAD)
			break;
		r = &recs[n++];
		memset(r, 0, sizeof(*r));
		r->start = start;
		r->head_off = evbuffer_get_length(out);
		if (m.parser.status_code == 101 && (ctx & FZ_RESP_UPGRADE)) {
			r->kind = FZ_SWITCH;
			http_write_response(&m, 0, 1, out);
		} else if (m.parser.status_code < 200) {
			/* HTTP/1.0 has no 1xx: such a client gets none. */
			r->kind = FZ_INFO;
			if (!http10)
				http_write_response(&m, 1, 0, out);
		} else {
			r->kind = FZ_FINAL;
			m.client_http10 = http10;
			m.dechunk = http10 && (m.parser.flags & F_CHUNKED) &&
			    !http_msg_body_until_eof(&m);
			r->dechunk = m.dechunk;
			r->keep = (ctx & FZ_RESP_KEEP) && !http_msg_body_until_eof(&m) &&
			    !m.dechunk;
			if (http_write_response(&m, r->keep, 0, out) == -1) {
				/* conn.c answers with its own 502 and closes:
				 * only for a coding an HTTP/1.0 client cannot read. */
				if (!http10 || evbuffer_get_length(out) != r->head_off)
					FZ_BAD("lib/http.c refused a response head: %s",
					    http_msg_error(&m));
				n--;
				break;
			}
		}
		r->head_end = evbuffer_get_length(out);
		fz_parse(&r->ref, HTTP_RESPONSE, (const char *)data + start,
		    size - start, FZ_ONE | (head ? FZ_HEAD : 0) |
		    (r->kind == FZ_FINAL ? FZ_EOF : 0));
		if (r->ref.n < 1 || !r->ref.msgs[0].head_done) {
			fz_sent = NULL;
			fz_sent_len = 0;
			FZ_BAD("lib/http.c read a response head that http-parser "
			    "rejects: %s", http_errno_name(r->ref.error));
		}
		step = http_msg_head_consume(&m, in);
		while (r->kind == FZ_FINAL && step == HTTP_STEP_MORE) {
			if (evbuffer_get_length(in) == 0 && !fz_feed_next(&feed))
				goto eof;
			step = http_msg_body(&m, in, out, &moved);
			if (step == HTTP_STEP_MORE && moved == 0 && !fz_feed_next(&feed))
				goto eof;
			continue;
 eof:
			/* conn_up_event(): the upstream closed. */
			step = http_msg_eof(&m);
			r->at_eof = 1;
		}
		r->step = step;
		r->end = feed.added - evbuffer_get_length(in);
		fz_sent = (const char *)evbuffer_pullup(out, -1);
		fz_sent_len = evbuffer_get_length(out);
		if (step == HTTP_STEP_DONE && (!r->ref.msgs[0].complete ||
		    (!r->at_eof && r->ref.msgs[0].end != r->end - start)))
			FZ_BAD("lib/http.c ended response %d after %zu bytes, "
			    "http-parser after %zu", n - 1, r->end - start,
			    r->ref.msgs[0].complete ? r->ref.msgs[0].end : 0);
		if (r->kind != FZ_INFO || step == HTTP_STEP_ERROR)
			break;
		if (http10) {
			fz_parse_free(&r->ref);
			n--;		/* consumed, not forwarded */
		}
		if (step != HTTP_STEP_DONE)
			FZ_BAD("status %u: conn.c passes it on as interim (< 200) "
			    "and reads the next response after its head, but "
			    "lib/http.c reads a body after it", m.parser.status_code);
		start = r->end;
		http_msg_init(&m, HTTP_RESPONSE);
		m.skip_body = head;
	}
 check:
	fz_sent = (const char *)evbuffer_pullup(out, -1);
	fz_sent_len = evbuffer_get_length(out);
	flags = head ? FZ_HEAD : 0;
	if (n > 0 && recs[n - 1].kind == FZ_FINAL &&
	    recs[n - 1].step == HTTP_STEP_DONE && !recs[n - 1].keep)
		flags |= FZ_EOF;	/* the proxy closes after it */
	fz_parse(&fp, HTTP_RESPONSE, fz_sent, fz_sent_len, flags);
	if (n > 0 && fp.error != HPE_OK)
		FZ_BAD("the forwarded responses do not parse: %s",
		    http_errno_name(fp.error));
	if (fp.n != n)
		FZ_BAD("the client reads %d responses where the proxy sent %d",
		    fp.n, n);
	if (fp.consumed != fz_sent_len)
		FZ_BAD("%zu forwarded bytes follow the responses",
		    fz_sent_len - fp.consumed);
	for (i = 0; i < n; i++) {
		next = i + 1 < n ? recs[i + 1].head_off : fz_sent_len;
		fz_check_response(&recs[i], &fp.msgs[i], fz_sent + recs[i].head_end,
		    next - recs[i].head_end, http10, head);
		fz_parse_free(&recs[i].ref);
	}
	fz_parse_free(&fp);
	evbuffer_free(out);
	evbuffer_free(in);
}
