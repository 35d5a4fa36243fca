/* http.c -- HTTP/1.1 message framing on http-parser: heads parsed in place, bodies moved without a copy, heads rewritten for the next hop. */
#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "route.h"

enum {
	CB_NONE,
	CB_URL,
	CB_FIELD,
	CB_VALUE,
};

/* Fields that describe one hop and never travel past the proxy. */
static const struct http_name {
	const char	*name;
	size_t		 len;
} http_hop_fields[] = {
	{ "connection", 10 }, { "proxy-connection", 16 }, { "keep-alive", 10 },
	{ "te", 2 }, { "trailer", 7 }, { "upgrade", 7 },
	{ "proxy-authorization", 19 }, { "proxy-authenticate", 18 },
};
#define HTTP_HOP_UPGRADE	5	/* its index */

/* The names the proxy acts on, read once when the head completes
 * (http_field.kind) rather than compared again at each use. */
enum {
	HTTP_KIND_OTHER,
	HTTP_KIND_CONNECTION,
	HTTP_KIND_UPGRADE,
	HTTP_KIND_HOP,			/* the other hop-by-hop fields */
	HTTP_KIND_HOST,
	HTTP_KIND_MAX_FORWARDS,
	HTTP_KIND_TRANSFER_ENCODING,
	HTTP_KIND_CONTENT_LENGTH,
};

/* Via names the protocol the message came in (RFC 9110 7.6.3); with the
 * head's last CRLF. */
#define HTTP_VIA_10	"Via: 1.0 arcproxy\r\n\r\n"
#define HTTP_VIA_11	"Via: 1.1 arcproxy\r\n\r\n"

static size_t
http_offset(const struct http_msg *m, const char *at)
{
	return m->seg_off + (size_t)(at - m->seg);
}

/* Records a span; a token split across two input segments arrives as two calls. */
static int
http_span_add(struct http_msg *m, struct http_span *span, int cb,
    const char *at, size_t len)
{
	size_t	off = http_offset(m, at);

	if (m->last_cb == cb && span->off + span->len == off) {
		span->len += (uint32_t)len;
		return 0;
	}
	if (m->last_cb == cb) {
		/* The same token resumed elsewhere: an obsolete line fold. */
		m->obs_fold = 1;
		return -1;
	}
	span->off = (uint32_t)off;
	span->len = (uint32_t)len;
	m->last_cb = cb;
	return 0;
}

static int
http_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_msg *m = p->data;

	return http_span_add(m, &m->url, CB_URL, at, len);
}

static int
http_on_field(http_parser *p, const char *at, size_t len)
{
	struct http_msg *m = p->data;

	if (m->phase == HTTP_PHASE_BODY)
		return 0;		/* a trailer field: dropped */
	if (m->last_cb != CB_FIELD) {
		if (m->nfields == HTTP_MAX_FIELDS) {
			m->too_many = 1;
			return -1;
		}
		memset(&m->fields[m->nfields], 0, sizeof(m->fields[0]));
		m->nfields++;
	}
	return http_span_add(m, &m->fields[m->nfields - 1].name, CB_FIELD, at, len);
}

static int
http_on_value(http_parser *p, const char *at, size_t len)
{
	struct http_msg *m = p->data;

	if (m->phase == HTTP_PHASE_BODY)
		return 0;
	return http_span_add(m, &m->fields[m->nfields - 1].value, CB_VALUE, at, len);
}

static int
http_on_headers_complete(http_parser *p)
{
	struct http_msg *m = p->data;

	/* Stop here so that the caller can route and rewrite before any body. */
	http_parser_pause(p, 1);
	/* Responses to HEAD, and 1xx, 204 and 304, end with their head
	 * whatever Content-Length says (RFC 9112 6.3). */
	if (p->type == HTTP_RESPONSE && (m->skip_body ||
	    p->status_code / 100 == 1 || p->status_code == 204 ||
	    p->status_code == 304))
		return 1;
	return 0;
}

static int
http_on_message_complete(http_parser *p)
{
	/* Stop at the message's last byte: what follows is the next message. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
	.on_url = http_on_url,
	.on_status = http_on_url,
	.on_header_field = http_on_field,
	.on_header_value = http_on_value,
	.on_headers_complete = http_on_headers_complete,
	.on_message_complete = http_on_message_complete,
};

void
http_msg_init(struct http_msg *m, enum http_parser_type type)
{
	/* The field table is filled as fields arrive: no need to clear it. */
	memset(m, 0, offsetof(struct http_msg, fields));
	m->nfields = 0;
	m->last_cb = CB_NONE;
	m->too_many = m->obs_fold = m->bad_field = m->bad_version = 0;
	m->seg = NULL;
	m->seg_off = 0;
	http_parser_init(&m->parser, type);
	m->parser.data = m;
	m->phase = HTTP_PHASE_HEAD;
}

/* Feeds len bytes; returns how many the parser took. */
static size_t
http_feed(struct http_msg *m, const char *data, size_t len, size_t off)
{
	m->seg = data;
	m->seg_off = off;
	return http_parser_execute(&m->parser, &http_settings, data, len);
}

static int
http_invalid(struct http_msg *m, const char *why)
{
	m->invalid = why;
	m->bad_field = 1;
	return -1;
}

static int
http_span_is(const struct http_msg *m, const struct http_span *s,
    const char *name, size_t len)
{
	return s->len == len && strncasecmp(m->raw + s->off, name, len) == 0;
}

/* tchar (RFC 9110 5.6.2): the bytes of a field name. */
static const unsigned char http_tchar[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
};

/* A request target's bytes are ASCII and no control or space (RFC 9112
 * 3.2, RFC 3986 2): other bytes are percent-encoded, or they would reach
 * the origin and the access log raw, read as each reader's charset has
 * them. */
static const unsigned char http_target_bad[256] = {
	[0 ... ' '] = 1, [0x7f ... 0xff] = 1,
};

/* Controls but HTAB, and DEL: never in a field value or a reason phrase. */
static const unsigned char http_ctl[256] = {
	[0 ... 8] = 1, [10 ... 31] = 1, [127] = 1,
};

static int
http_is_tchar(unsigned char c)
{
	return http_tchar[c];
}

/*
 * Eight bytes at a time (a field value or a target is a few dozen bytes,
 * and a byte-by-byte table walk was a twentieth of the proxy's own work
 * per small GET).  HTTP_LESS(x, n): some byte of x below n (n <= 128);
 * exact as a yes or no, like HTTP_HAS_ZERO.  A word that may hold a bad
 * byte is walked byte by byte with the table, which has the last word.
 */
#define HTTP_ONES	0x0101010101010101ULL
#define HTTP_HIGHS	0x8080808080808080ULL
#define HTTP_LESS(x, n)	(((x) - HTTP_ONES * (n)) & ~(x) & HTTP_HIGHS)

static uint64_t
http_word(const unsigned char *s)
{
	uint64_t	x;

	memcpy(&x, s, sizeof(x));
	return x;
}

/* Is any of s[0] to s[len - 1] a byte that table marks? The word test
 * must flag every word that holds one. */
static int
http_bytes_bad(const unsigned char *s, size_t len, const unsigned char *table,
    int target)
{
	size_t		k = 0, j;
	uint64_t	x, flag;

	for (; k + 8 <= len; k += 8) {
		x = http_word(s + k);
		/* A target: controls and space, DEL, not ASCII.  A value or
		 * a reason: controls (HTAB is one here, and goes to the
		 * table), DEL. */
		flag = target ? HTTP_LESS(x, 0x21) | (x & HTTP_HIGHS) :
		    HTTP_LESS(x, 0x20);
		flag |= HTTP_LESS(x ^ (HTTP_ONES * 0x7f), 1);
		if (flag == 0)
			continue;
		for (j = k; j < k + 8; j++)
			if (table[s[j]])
				return 1;
	}
	for (; k < len; k++)
		if (table[s[k]])
			return 1;
	return 0;
}

/*
 * The header section's line structure from raw[i] to raw[n]: the offset of
 * its first bad byte (NUL, a CR without LF, an LF without CR, an LF that
 * starts a folded line), with *why, or n when there is none.  memchr(3)
 * finds the few CRs and LFs, a byte-by-byte walk was a tenth of the
 * proxy's own CPU per small GET; the first bad byte wins, as in that walk.
 * raw[i] is neither CR nor LF.
 */
static size_t
http_bad_line_byte(const char *raw, size_t i, size_t n, const char **why)
{
	const char	*end = raw + n, *stop = end, *p;

	if ((p = memchr(raw + i, '\0', n - i)) != NULL) {
		stop = p;
		*why = "NUL in the header section";
	}
	for (p = raw + i; p < stop && (p = memchr(p, '\r', stop - p)) != NULL; p++)
		if (p + 1 == end || p[1] != '\n') {
			stop = p;
			*why = "bare CR in the header section";
			break;
		}
	for (p = raw + i; p < stop && (p = memchr(p, '\n', stop - p)) != NULL; p++) {
		if (p[-1] != '\r') {
			stop = p;
			*why = "bare LF in the header section";
			break;
		}
		if (p + 1 < end && (p[1] == ' ' || p[1] == '\t')) {
			stop = p;
			*why = "obsolete line folding";
			break;
		}
	}
	return (size_t)(stop - raw);
}

/* Does name, a token, spell lower (lower case letters and '-') in any case?
 * Or-ing 0x20 folds only letters onto those bytes among the tchars. */
static int
http_name_eq(const char *name, const char *lower, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (((unsigned char)name[i] | 0x20) != (unsigned char)lower[i])
			return 0;
	return 1;
}

/* The kind of a field name made of tchars alone (strncasecmp's sense of case). */
static int
http_name_kind(const char *name, size_t len)
{
	size_t	i;

	switch (len) {
	case 4:
		return http_name_eq(name, "host", 4) ? HTTP_KIND_HOST :
		    HTTP_KIND_OTHER;
	case 12:
		return http_name_eq(name, "max-forwards", 12) ?
		    HTTP_KIND_MAX_FORWARDS : HTTP_KIND_OTHER;
	case 14:
		return http_name_eq(name, "content-length", 14) ?
		    HTTP_KIND_CONTENT_LENGTH : HTTP_KIND_OTHER;
	case 17:
		return http_name_eq(name, "transfer-encoding", 17) ?
		    HTTP_KIND_TRANSFER_ENCODING : HTTP_KIND_OTHER;
	}
	for (i = 0; i < sizeof(http_hop_fields) / sizeof(http_hop_fields[0]); i++)
		if (len == http_hop_fields[i].len &&
		    http_name_eq(name, http_hop_fields[i].name, len)) {
			if (i == 0)
				return HTTP_KIND_CONNECTION;
			return i == HTTP_HOP_UPGRADE ? HTTP_KIND_UPGRADE :
			    HTTP_KIND_HOP;
		}
	return HTTP_KIND_OTHER;
}

/* Calls fn on each element of each Transfer-Encoding field, in order. */
static int
http_te_each(const struct http_msg *m,
    int (*fn)(const char *, size_t, void *), void *arg)
{
	const char	*v;
	size_t		 len, i, start, end;
	int		 f;

	for (f = 0; f < m->nfields; f++) {
		if (m->fields[f].kind != HTTP_KIND_TRANSFER_ENCODING)
			continue;
		v = m->raw + m->fields[f].value.off;
		len = m->fields[f].value.len;
		for (i = 0; i <= len; i = end + 1) {
			start = i;
			for (end = i; end < len && v[end] != ','; end++)
				;
			while (start < end && (v[start] == ' ' || v[start] == '\t'))
				start++;
			i = end;
			while (i > start && (v[i - 1] == ' ' || v[i - 1] == '\t'))
				i--;
			if (fn(v + start, i - start, arg) == -1)
				return -1;
		}
	}
	return 0;
}

struct http_te_state {
	int	chunked;	/* chunked seen */
	int	last_chunked;	/* and it is the last coding so far */
};

/*
 * The transfer codings of the registry (RFC 9112 7): only these may come
 * before chunked.  Another token is refused rather than passed, since
 * parsers after us may not agree on it: http-parser 2.9 reads a prefix of
 * "chunked" followed by a comma ("chunk, chunked") as a coding that eats
 * the rest of the list, so the list the proxy writes would not be chunked.
 */
static const char *const http_codings[] = {
	"gzip", "deflate", "compress", "x-gzip", "x-compress", NULL
};

static int
http_te_check(const char *c, size_t len, void *arg)
{
	struct http_te_state	*st = arg;
	int			 i;

	if (st->chunked)
		return -1;		/* chunked is applied once, and last */
	if (len == 7 && strncasecmp(c, "chunked", 7) == 0) {
		st->chunked = st->last_chunked = 1;
		return 0;
	}
	for (i = 0; http_codings[i] != NULL; i++)
		if (len == strlen(http_codings[i]) &&
		    strncasecmp(c, http_codings[i], len) == 0)
			return 0;
	return -1;		/* empty, parameters, quotes, unknown */
}

/*
 * The framing must mean the same to every parser after us, since the head is
 * written again from what this one understood: no bare CR or LF, no line
 * folding, field names that are tokens, field values, target and reason
 * without control characters, and at most one framing: a Content-Length the
 * parser took, or a Transfer-Encoding list that ends in chunked
 * (RFC 9112 2.2, 5, 6.1, 6.3).
 */
static int
http_head_valid(struct http_msg *m)
{
	const char		*raw = m->raw, *name, *why = NULL;
	const http_parser	*p = &m->parser;
	struct http_te_state	 te = { 0, 0 };
	size_t			 i = 0, n = m->head_len;
	uint32_t		 k;
	int			 f, nte = 0, ncl = 0;

	/* Empty lines before the start line are skipped (RFC 9112 2.2). */
	while (i < n && (raw[i] == '\r' || raw[i] == '\n'))
		i++;
	if (http_bad_line_byte(raw, i, n, &why) < n)
		return http_invalid(m, why);
	if (p->type == HTTP_RESPONSE &&
	    (p->status_code < 100 || p->status_code > 599))
		return http_invalid(m, "invalid status code");
	if (p->http_major != 1) {
		m->bad_version = 1;	/* 505 (RFC 9110 6.2, 15.6.6) */
		return http_invalid(m, "HTTP version other than 1.x");
	}
	if (p->type == HTTP_REQUEST &&
	    http_bytes_bad((const unsigned char *)raw + m->url.off, m->url.len,
	    http_target_bad, 1))
		return http_invalid(m, "invalid request target");
	if (p->type == HTTP_RESPONSE &&
	    http_bytes_bad((const unsigned char *)raw + m->url.off, m->url.len,
	    http_ctl, 0))
		return http_invalid(m, "invalid reason phrase");
	for (f = 0; f < m->nfields; f++) {
		name = raw + m->fields[f].name.off;
		if (m->fields[f].name.len == 0)
			return http_invalid(m, "invalid header field");
		for (k = 0; k < m->fields[f].name.len; k++)
			if (!http_is_tchar((unsigned char)name[k]))
				return http_invalid(m, "invalid header field");
		m->fields[f].kind = http_name_kind(name, m->fields[f].name.len);
		if (http_bytes_bad((const unsigned char *)raw +
		    m->fields[f].value.off, m->fields[f].value.len, http_ctl, 0))
			return http_invalid(m, "invalid header field");
		if (m->fields[f].kind == HTTP_KIND_TRANSFER_ENCODING)
			nte++;
		if (m->fields[f].kind == HTTP_KIND_CONTENT_LENGTH)
			ncl++;
	}
	if (ncl > 1 || (ncl == 1) != ((p->flags & F_CONTENTLENGTH) != 0))
		return http_invalid(m, "invalid Content-Length");
	if (nte == 0) {
		if (p->flags & F_CHUNKED)
			return http_invalid(m, "invalid Transfer-Encoding");
		return 0;
	}
	if (ncl > 0)
		return http_invalid(m, "both Content-Length and Transfer-Encoding");
	if (p->http_major == 1 && p->http_minor == 0)
		return http_invalid(m, "Transfer-Encoding in HTTP/1.0");
	if (http_te_each(m, http_te_check, &te) == -1)
		return http_invalid(m, "unknown transfer coding, or one after chunked");
	if (!te.last_chunked || !(p->flags & F_CHUNKED))
		return http_invalid(m, "Transfer-Encoding does not end in chunked");
	return 0;
}

/* The body's framing as the parser reads the head just completed (RFC 9112 6.3). */
static enum http_framing
http_framing_of(const struct http_msg *m)
{
	const http_parser	*p = &m->parser;
	unsigned		 status = p->status_code;

	if (p->type == HTTP_RESPONSE && (m->skip_body || status / 100 == 1 ||
	    status == 204 || status == 304))
		return HTTP_FRAMING_NONE;
	if (p->flags & F_CHUNKED)
		return HTTP_FRAMING_CHUNKED;
	if (p->flags & F_CONTENTLENGTH)
		return p->content_length > 0 ? HTTP_FRAMING_LENGTH :
		    HTTP_FRAMING_NONE;
	return p->type == HTTP_RESPONSE ? HTTP_FRAMING_EOF : HTTP_FRAMING_NONE;
}

enum http_step
http_msg_head(struct http_msg *m, struct evbuffer *in, size_t max_head)
{
	struct evbuffer_iovec	 vec[8];
	struct evbuffer_ptr	 ptr;
	size_t			 avail, n, want, before;
	const char		*front = NULL;
	int			 nvec, i;

	if (m->phase == HTTP_PHASE_HEAD_READY)
		return HTTP_STEP_HEAD;
	avail = evbuffer_get_length(in);
	while (m->parsed < avail) {
		/* Most heads come in one read: from the front, no pointer to
		 * set. */
		if (m->parsed > 0 &&
		    evbuffer_ptr_set(in, &ptr, m->parsed, EVBUFFER_PTR_SET) == -1)
			return HTTP_STEP_ERROR;
		/* Feed at most one byte past the limit: enough to know it is exceeded. */
		want = avail - m->parsed;
		if (want > max_head + 1 - m->parsed)
			want = max_head + 1 - m->parsed;
		nvec = evbuffer_peek(in, want, m->parsed > 0 ? &ptr : NULL, vec, 8);
		before = m->parsed;
		for (i = 0; i < nvec && want > 0; i++) {
			size_t len = vec[i].iov_len < want ? vec[i].iov_len : want;

			if (len == 0)
				continue;	/* an empty chain is not EOF */
			n = http_feed(m, vec[i].iov_base, len, m->parsed);
			m->parsed += n;
			want -= n;
			if (HTTP_PARSER_ERRNO(&m->parser) == HPE_PAUSED) {
				/* The whole head in the first chain: there
				 * already, as evbuffer_pullup() would find it. */
				if (before == 0 && i == 0 &&
				    m->parsed + 1 <= vec[0].iov_len)
					front = vec[0].iov_base;
				goto head;
			}
			if (HTTP_PARSER_ERRNO(&m->parser) != HPE_OK) {
				if (m->too_many ||
				    HTTP_PARSER_ERRNO(&m->parser) == HPE_HEADER_OVERFLOW)
					return HTTP_STEP_TOO_LARGE;
				return HTTP_STEP_ERROR;
			}
		}
		if (m->parsed > max_head)
			return HTTP_STEP_TOO_LARGE;
		if (m->parsed == before)
			break;		/* only empty chains in this window */
	}
	return HTTP_STEP_MORE;
 head:
	/* Paused inside on_headers_complete, on the head's final LF. */
	m->head_len = m->parsed + 1;
	if (m->head_len > max_head)
		return HTTP_STEP_TOO_LARGE;
	if ((m->raw = front) == NULL &&
	    (m->raw = (const char *)evbuffer_pullup(in, m->head_len)) == NULL)
		return HTTP_STEP_ERROR;
	if (http_head_valid(m) == -1)
		return HTTP_STEP_ERROR;
	/*
	 * From here on the framing is this record, never the parser's flags:
	 * http-parser reads trailer fields as header fields, so a trailer
	 * named Transfer-Encoding clears F_CHUNKED in the middle of the body
	 * and one named Connection changes its keep-alive.
	 */
	m->framing = http_framing_of(m);
	m->keep_alive = http_should_keep_alive(&m->parser);
	m->phase = HTTP_PHASE_HEAD_READY;
	return HTTP_STEP_HEAD;
}

enum http_step
http_msg_head_consume(struct http_msg *m, struct evbuffer *in)
{
	size_t	n;

	http_parser_pause(&m->parser, 0);
	/* The final LF completes the head's state change (and, for a message
	 * without a body, the message). */
	n = http_feed(m, m->raw + m->head_len - 1, 1, m->head_len - 1);
	evbuffer_drain(in, m->head_len);
	m->raw = NULL;
	m->parsed = 0;
	if (n == 1 && HTTP_PARSER_ERRNO(&m->parser) == HPE_PAUSED) {
		m->phase = HTTP_PHASE_DONE;
		return HTTP_STEP_DONE;
	}
	m->phase = HTTP_PHASE_BODY;
	if (n != 1 || HTTP_PARSER_ERRNO(&m->parser) != HPE_OK)
		return HTTP_STEP_ERROR;
	return HTTP_STEP_MORE;
}

/*
 * A chunked body is never passed as it came: chunk lines may carry
 * extensions, trailers may follow, and the lenient parser takes any byte
 * for some of the CR and LF, so another parser downstream could frame it
 * differently.  This filter walks the bytes http-parser has accepted and
 * passes only the canonical framing (size digits, CRLF, data, CRLF, last
 * chunk, CRLF): extensions, white space and trailer lines are dropped, a
 * line end that is not CRLF is an error.  The common body, with nothing to
 * drop, moves as one run without a copy.  With m->dechunk all framing goes.
 */
enum {
	CHUNK_SIZE,		/* hex digits of the chunk size */
	CHUNK_EXT,		/* an extension after the size: dropped */
	CHUNK_SIZE_LF,		/* the CR of the size line was seen */
	CHUNK_DATA,		/* chunk_left data bytes due */
	CHUNK_DATA_CR,		/* the CRLF after the data */
	CHUNK_DATA_LF,
	CHUNK_TRAILER_START,	/* after the last chunk: a trailer line or CRLF */
	CHUNK_TRAILER,		/* a trailer line: dropped */
	CHUNK_LAST_LF,		/* the CR of the final CRLF was seen */
	CHUNK_END,		/* the body is complete */
};

/* One framing byte: 1 to pass it, 0 to drop it, -1 when it is not canonical. */
static int
http_chunk_byte(struct http_msg *m, unsigned char c)
{
	int	v;

	switch (m->chunk_state) {
	case CHUNK_SIZE:
		if ((v = isdigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ?
		    c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1) >= 0) {
			if (m->chunk_left > (UINT64_MAX >> 4))
				return -1;
			m->chunk_left = m->chunk_left * 16 + (uint64_t)v;
			m->chunk_digits++;
			return 1;
		}
		if (m->chunk_digits == 0)
			return -1;
		if (c == '\r') {
			m->chunk_state = CHUNK_SIZE_LF;
			return 1;
		}
		if (c != ';' && c != ' ' && c != '\t')
			return -1;
		m->chunk_state = CHUNK_EXT;
		return 0;
	case CHUNK_EXT:
		if (c != '\r')
			return 0;
		m->chunk_state = CHUNK_SIZE_LF;
		return 1;
	case CHUNK_SIZE_LF:
		if (c != '\n')
			return -1;
		m->chunk_state = m->chunk_left > 0 ? CHUNK_DATA : CHUNK_TRAILER_START;
		return 1;
	case CHUNK_DATA_CR:
		if (c != '\r')
			return -1;
		m->chunk_state = CHUNK_DATA_LF;
		return 1;
	case CHUNK_DATA_LF:
		if (c != '\n')
			return -1;
		m->chunk_state = CHUNK_SIZE;
		m->chunk_digits = 0;
		return 1;
	case CHUNK_TRAILER_START:
		if (c == '\r') {
			m->chunk_state = CHUNK_LAST_LF;
			return 1;
		}
		m->chunk_state = CHUNK_TRAILER;
		return 0;
	case CHUNK_TRAILER:
		if (c == '\n')
			m->chunk_state = CHUNK_TRAILER_START;
		return 0;
	case CHUNK_LAST_LF:
		if (c != '\n')
			return -1;
		m->chunk_state = CHUNK_END;
		return 1;
	default:
		return -1;		/* bytes after the end */
	}
}

/* Moves the first pass bytes of in to out, or drops them. */
static void
http_chunk_flush(struct evbuffer *in, struct evbuffer *out, size_t *run, int pass)
{
	if (*run == 0)
		return;
	if (pass)
		evbuffer_remove_buffer(in, out, *run);
	else
		evbuffer_drain(in, *run);
	*run = 0;
}

/*
 * Filters the first total bytes of in, which vec describes, into out.  Runs
 * are applied behind the scan: what is drained or moved lies before the byte
 * being looked at, so the chains still to scan stay where vec says.
 */
static int
http_chunk_filter(struct http_msg *m, struct evbuffer *in, struct evbuffer *out,
    const struct evbuffer_iovec *vec, int nvec, size_t total)
{
	const unsigned char	*p;
	size_t			 run = 0, len, n, k;
	int			 pass = 1, cls, i;

	for (i = 0; i < nvec && total > 0; i++) {
		p = vec[i].iov_base;
		len = vec[i].iov_len < total ? vec[i].iov_len : total;
		total -= len;
		for (k = 0; k < len; k += n) {
			if (m->chunk_state == CHUNK_DATA) {
				n = len - k;
				if (n > m->chunk_left)
					n = (size_t)m->chunk_left;
				m->chunk_left -= n;
				if (m->chunk_left == 0)
					m->chunk_state = CHUNK_DATA_CR;
				cls = 1;
			} else {
				n = 1;
				if ((cls = http_chunk_byte(m, p[k])) == -1) {
					m->invalid = "chunked framing that is not canonical";
					return -1;
				}
				if (m->dechunk)
					cls = 0;
			}
			if (cls != pass) {
				http_chunk_flush(in, out, &run, pass);
				pass = cls;
			}
			run += n;
		}
	}
	http_chunk_flush(in, out, &run, pass);
	return 0;
}

enum http_step
http_msg_body(struct http_msg *m, struct evbuffer *in, struct evbuffer *out,
    size_t *moved)
{
	struct evbuffer_iovec	 vec[16];
	size_t			 total = 0, n;
	int			 nvec, i, used = 0;
	enum http_step		 step = HTTP_STEP_MORE;

	*moved = 0;
	if (m->phase == HTTP_PHASE_DONE)
		return HTTP_STEP_DONE;
	nvec = evbuffer_peek(in, -1, NULL, vec, 16);
	if (nvec > 16)
		nvec = 16;
	for (i = 0; i < nvec; i++) {
		used = i + 1;
		/* An empty chain (space reserved, nothing committed) would
		 * read as EOF to http-parser. */
		if (vec[i].iov_len == 0)
			continue;
		n = http_feed(m, vec[i].iov_base, vec[i].iov_len, total);
		total += n;
		if (HTTP_PARSER_ERRNO(&m->parser) == HPE_PAUSED) {
			m->phase = HTTP_PHASE_DONE;
			step = HTTP_STEP_DONE;
			break;
		}
		if (HTTP_PARSER_ERRNO(&m->parser) != HPE_OK)
			return HTTP_STEP_ERROR;
	}
	if (m->framing == HTTP_FRAMING_CHUNKED) {
		if (http_chunk_filter(m, in, out, vec, used, total) == -1 ||
		    (step == HTTP_STEP_DONE) != (m->chunk_state == CHUNK_END)) {
			if (m->invalid == NULL)
				m->invalid = "chunked framing that is not canonical";
			return HTTP_STEP_ERROR;
		}
	} else if (total > 0)
		evbuffer_remove_buffer(in, out, total);
	*moved = total;
	/* More than 16 segments: the caller calls again while input remains. */
	return step;
}

enum http_step
http_msg_eof(struct http_msg *m)
{
	if (m->phase == HTTP_PHASE_DONE)
		return HTTP_STEP_DONE;
	if (m->phase != HTTP_PHASE_BODY || m->framing != HTTP_FRAMING_EOF)
		return HTTP_STEP_ERROR;
	http_feed(m, NULL, 0, 0);
	if (HTTP_PARSER_ERRNO(&m->parser) == HPE_PAUSED) {
		m->phase = HTTP_PHASE_DONE;
		return HTTP_STEP_DONE;
	}
	return HTTP_STEP_ERROR;
}

const char *
http_msg_error(const struct http_msg *m)
{
	if (m->too_many)
		return "too many header fields";
	if (m->obs_fold)
		return "obsolete line folding";
	if (m->invalid != NULL)
		return m->invalid;
	if (m->bad_field)
		return "invalid header field";
	return http_errno_description(HTTP_PARSER_ERRNO(&m->parser));
}

const char *
http_msg_method(const struct http_msg *m)
{
	return http_method_str((enum http_method)m->parser.method);
}

int
http_method_idempotent(const char *method)
{
	static const char *const idempotent[] = { "GET", "HEAD", "OPTIONS",
	    "TRACE", "PUT", "DELETE", NULL };
	int	i;

	for (i = 0; idempotent[i] != NULL; i++)
		if (strcmp(method, idempotent[i]) == 0)
			return 1;
	return 0;
}

int
http_msg_is_connect(const struct http_msg *m)
{
	return m->parser.type == HTTP_REQUEST && m->parser.method == HTTP_CONNECT;
}

int
http_msg_is_upgrade(const struct http_msg *m)
{
	/* An HTTP/1.0 request's Upgrade is ignored (RFC 9110 7.8). */
	return m->parser.upgrade && !(m->parser.type == HTTP_REQUEST &&
	    m->parser.http_major == 1 && m->parser.http_minor == 0);
}

enum http_framing
http_msg_framing(const struct http_msg *m)
{
	return m->phase == HTTP_PHASE_HEAD ? http_framing_of(m) : m->framing;
}

int
http_msg_keep_alive(const struct http_msg *m)
{
	if (m->phase == HTTP_PHASE_HEAD)
		return http_should_keep_alive(&m->parser);
	return m->keep_alive;
}

int
http_msg_body_until_eof(const struct http_msg *m)
{
	/* No length, not chunked, and a status that carries a body. */
	return http_msg_framing(m) == HTTP_FRAMING_EOF;
}

int
http_msg_find(const struct http_msg *m, const char *name, const char **value,
    size_t *len)
{
	size_t	nlen = strlen(name);
	int	i;

	for (i = 0; i < m->nfields; i++)
		if (http_span_is(m, &m->fields[i].name, name, nlen)) {
			*value = m->raw + m->fields[i].value.off;
			*len = m->fields[i].value.len;
			return 1;
		}
	return 0;
}

int
http_msg_count(const struct http_msg *m, const char *name)
{
	size_t	nlen = strlen(name);
	int	i, n = 0;

	for (i = 0; i < m->nfields; i++)
		if (http_span_is(m, &m->fields[i].name, name, nlen))
			n++;
	return n;
}

#define HTTP_METHOD_MAX	32	/* a method name worth a 501 */

int
http_msg_unknown_method(const struct http_msg *m, struct evbuffer *in)
{
	unsigned char	buf[HTTP_METHOD_MAX + 1];
	ev_ssize_t	n;
	int		i;

	if (m->parser.type != HTTP_REQUEST ||
	    HTTP_PARSER_ERRNO(&m->parser) != HPE_INVALID_METHOD)
		return 0;
	if ((n = evbuffer_copyout(in, buf, sizeof(buf))) <= 0)
		return 0;
	for (i = 0; i < n && http_is_tchar(buf[i]); i++)
		;
	return i > 0 && i < n && buf[i] == ' ';
}

int
http_token_in_list(const char *list, size_t len, const char *token,
    size_t token_len)
{
	size_t	i = 0, start, end;

	while (i < len) {
		while (i < len && (list[i] == ' ' || list[i] == '\t' || list[i] == ','))
			i++;
		start = i;
		while (i < len && list[i] != ',')
			i++;
		end = i;
		while (end > start && (list[end - 1] == ' ' || list[end - 1] == '\t'))
			end--;
		if (end - start == token_len &&
		    strncasecmp(list + start, token, token_len) == 0)
			return 1;
	}
	return 0;
}

/*
 * Is this field hop-by-hop: on the fixed list, or named by a Connection
 * field?  connection: whether the message has any Connection field.
 */
static int
http_field_is_hop(const struct http_msg *m, const struct http_field *f,
    int keep_upgrade, int connection)
{
	const char	*name = m->raw + f->name.off;
	size_t		 i;

	if (f->kind == HTTP_KIND_CONNECTION || f->kind == HTTP_KIND_UPGRADE ||
	    f->kind == HTTP_KIND_HOP)
		return !(keep_upgrade && f->kind == HTTP_KIND_UPGRADE);
	for (i = 0; connection && i < (size_t)m->nfields; i++)
		if (m->fields[i].kind == HTTP_KIND_CONNECTION &&
		    http_token_in_list(m->raw + m->fields[i].value.off,
		    m->fields[i].value.len, name, f->name.len))
			return !(keep_upgrade && f->kind == HTTP_KIND_UPGRADE);
	return 0;
}

/*
 * A head being written: its pieces gather here and go to the evbuffer in
 * one evbuffer_add (or a few, for a head past the buffer), instead of one
 * per piece, four per field.
 */
struct http_out {
	struct evbuffer	*ev;
	size_t		 len;
	char		 buf[2048];
};

static void
http_out_flush(struct http_out *o)
{
	if (o->len > 0)
		evbuffer_add(o->ev, o->buf, o->len);
	o->len = 0;
}

/* A piece that does not fit what is left of the buffer. */
static void __attribute__((noinline))
http_put_flushing(struct http_out *o, const void *data, size_t len)
{
	http_out_flush(o);
	if (len > sizeof(o->buf)) {
		evbuffer_add(o->ev, data, len);
		return;
	}
	memcpy(o->buf, data, len);
	o->len = len;
}

/* Inline, so that the constant pieces (": ", CRLF) are a store or two. */
static inline void
http_put(struct http_out *o, const void *data, size_t len)
{
	if (len > sizeof(o->buf) - o->len) {
		http_put_flushing(o, data, len);
		return;
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
}

/* prefix, v in decimal, suffix: no printf (per message).  Inline, as
 * http_put(), for the constant prefix and suffix. */
static inline void
http_put_number(struct http_out *o, const char *prefix, size_t plen,
    unsigned long long v, const char *suffix, size_t slen)
{
	char	digits[20];
	size_t	n = sizeof(digits);

	do
		digits[--n] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	http_put(o, prefix, plen);
	http_put(o, digits + n, sizeof(digits) - n);
	http_put(o, suffix, slen);
}

#define HTTP_DROP_HOST		0x1	/* the target names it */
#define HTTP_DROP_MAX_FORWARDS	0x2	/* written again, one less */

static void
http_write_fields(const struct http_msg *m, struct http_out *out,
    int keep_upgrade, int drop)
{
	const struct http_field	*f;
	int			 i, connection = 0;

	for (i = 0; i < m->nfields && !connection; i++)
		connection = m->fields[i].kind == HTTP_KIND_CONNECTION;
	for (i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (http_field_is_hop(m, f, keep_upgrade, connection))
			continue;
		if ((drop & HTTP_DROP_HOST) && f->kind == HTTP_KIND_HOST)
			continue;
		if ((drop & HTTP_DROP_MAX_FORWARDS) &&
		    f->kind == HTTP_KIND_MAX_FORWARDS)
			continue;
		/* Framing comes from the parser's state: see below. */
		if (f->kind == HTTP_KIND_TRANSFER_ENCODING ||
		    f->kind == HTTP_KIND_CONTENT_LENGTH)
			continue;
		http_put(out, m->raw + f->name.off, f->name.len);
		http_put(out, ": ", 2);
		http_put(out, m->raw + f->value.off, f->value.len);
		http_put(out, "\r\n", 2);
	}
}

struct http_codings {
	struct http_out	*out;
	int		 n;		/* codings written */
};

static int
http_write_coding(const char *c, size_t len, void *arg)
{
	struct http_codings	*w = arg;

	if (len == 7 && strncasecmp(c, "chunked", 7) == 0)
		return 0;
	if (w->n++ > 0)
		http_put(w->out, ", ", 2);
	else
		http_put(w->out, "Transfer-Encoding: ", 19);
	http_put(w->out, c, len);
	return 0;
}

/*
 * The framing of the message as this parser frames it, whatever the fields
 * said and whatever Connection named: the body that follows is exactly the
 * one http_msg_body() passes.  1xx and 204 have none; the length a HEAD or
 * 304 response announces stays (RFC 9110 8.6).
 */
static void
http_write_framing(const struct http_msg *m, struct http_out *out)
{
	/* Called while HEAD_READY: the flags are still the head's alone. */
	const http_parser	*p = &m->parser;
	struct http_codings	 w = { out, 0 };

	if (p->type == HTTP_RESPONSE &&
	    (p->status_code / 100 == 1 || p->status_code == 204))
		return;
	if (p->flags & F_CHUNKED) {
		http_te_each(m, http_write_coding, &w);
		if (!m->dechunk && w.n > 0)
			http_put(out, ", chunked", 9);
		else if (!m->dechunk)
			http_put(out, "Transfer-Encoding: chunked", 26);
		if (w.n > 0 || !m->dechunk)
			http_put(out, "\r\n", 2);
	} else if (p->flags & F_CONTENTLENGTH)
		http_put_number(out, "Content-Length: ", 16,
		    (unsigned long long)p->content_length, "\r\n", 2);
}

int
http_msg_target(const struct http_msg *m, struct http_target *t)
{
	struct http_parser_url	 u;
	const char		*url = m->raw + m->url.off;
	size_t			 hlen;
	int			 connect = http_msg_is_connect(m);

	memset(t, 0, sizeof(*t));
	http_parser_url_init(&u);
	if (m->url.len == 0 ||
	    http_parser_parse_url(url, m->url.len, connect, &u) != 0)
		return -1;
	if (!connect) {
		if (!(u.field_set & (1 << UF_SCHEMA)))
			return -1;
		if (u.field_data[UF_SCHEMA].len != 4 ||
		    strncasecmp(url + u.field_data[UF_SCHEMA].off, "http", 4) != 0)
			return -2;
	}
	if (!(u.field_set & (1 << UF_HOST)))
		return -1;
	hlen = u.field_data[UF_HOST].len;
	if (hlen == 0 || hlen >= sizeof(t->host))
		return -1;
	memcpy(t->host, url + u.field_data[UF_HOST].off, hlen);
	t->host[hlen] = '\0';
	if (route_normalize_host(t->host) == -1)
		return -1;
	if (u.field_set & (1 << UF_PORT))
		t->port = u.port;
	else if (connect)
		return -1;		/* CONNECT needs host:port (RFC 9110 9.3.6) */
	else
		t->port = 80;
	if (t->port == 0)
		return -1;
	if (connect) {
		t->authority = url;
		t->authority_len = m->url.len;
		return 0;
	}
	/* The authority without any userinfo. */
	t->authority = url + u.field_data[UF_HOST].off;
	t->authority_len = (u.field_set & (1 << UF_PORT)) ?
	    (size_t)(u.field_data[UF_PORT].off + u.field_data[UF_PORT].len -
	    u.field_data[UF_HOST].off) : hlen;
	if (t->authority > url && t->authority[-1] == '[') {
		t->authority--;		/* keep the brackets of an IPv6 literal */
		t->authority_len++;
		if (!(u.field_set & (1 << UF_PORT)))
			t->authority_len++;
	}
	if (u.field_set & (1 << UF_PATH)) {
		t->path = url + u.field_data[UF_PATH].off;
		/* Path and query, without any fragment. */
		t->path_len = (u.field_set & (1 << UF_QUERY)) ?
		    (size_t)(u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len -
		    u.field_data[UF_PATH].off) : u.field_data[UF_PATH].len;
	} else if (u.field_set & (1 << UF_QUERY)) {
		/* "http://h?q": the path is "/" and the query stays. */
		t->path = url + u.field_data[UF_QUERY].off - 1;
		t->path_len = u.field_data[UF_QUERY].len + 1;
	} else if (m->parser.method == HTTP_OPTIONS) {
		/* The server as a whole (RFC 9112 3.2.4): "*", not "/". */
		t->path = "*";
		t->path_len = 1;
	} else {
		t->path = "/";
		t->path_len = 1;
	}
	return 0;
}

int
http_write_request(const struct http_msg *m, const struct http_target *t,
    struct evbuffer *ev)
{
	const char	*method = http_msg_method(m);
	int		 upgrade = http_msg_is_upgrade(m) && !http_msg_is_connect(m);
	struct http_out	 o, *out = &o;
	unsigned long	 hops;
	int		 mf;

	o.ev = ev;
	o.len = 0;
	/* The caller answers a Max-Forwards of 0 itself, and refuses a bad one. */
	mf = http_msg_max_forwards(m, &hops) == 1 && hops > 0;

	http_put(out, method, strlen(method));
	http_put(out, " ", 1);
	if (t->path[0] != '/' && t->path[0] != '*')
		http_put(out, "/", 1);	/* "?q" after an empty path */
	http_put(out, t->path, t->path_len);
	http_put(out, " HTTP/1.1\r\nHost: ", 17);
	http_put(out, t->authority, t->authority_len);
	http_put(out, "\r\n", 2);
	http_write_fields(m, out, upgrade, HTTP_DROP_HOST |
	    (mf ? HTTP_DROP_MAX_FORWARDS : 0));
	if (mf)
		http_put_number(out, "Max-Forwards: ", 14, hops - 1, "\r\n", 2);
	http_write_framing(m, out);
	if (upgrade)
		http_put(out, "Connection: upgrade\r\n", 21);
	if (m->parser.http_minor == 0)
		http_put(out, HTTP_VIA_10, sizeof(HTTP_VIA_10) - 1);
	else
		http_put(out, HTTP_VIA_11, sizeof(HTTP_VIA_11) - 1);
	http_out_flush(out);
	return 0;
}

static int
http_count_coding(const char *c, size_t len, void *arg)
{
	int	*n = arg;

	if (!(len == 7 && strncasecmp(c, "chunked", 7) == 0))
		(*n)++;
	return 0;
}

int
http_write_response(struct http_msg *m, int keep_alive, int upgrade,
    struct evbuffer *ev)
{
	unsigned	status = m->parser.status_code;
	int		codings = 0;
	struct http_out	o, *out = &o;

	o.ev = ev;
	o.len = 0;

	/*
	 * An HTTP/1.0 client reads no Transfer-Encoding (RFC 9112 6.1): the
	 * proxy undoes chunked, the last coding, but cannot undo the ones
	 * before it (gzip and the like, rare as transfer codings), so such a
	 * response is refused rather than passed with a coding the client
	 * would take for content.  1xx and 204 carry no framing fields.
	 */
	if (m->client_http10 && status / 100 != 1 && status != 204) {
		http_te_each(m, http_count_coding, &codings);
		if (codings > 0) {
			m->invalid = "a transfer coding other than chunked "
			    "for an HTTP/1.0 client";
			return -1;
		}
	}
	http_put_number(out, "HTTP/1.1 ", 9, status, " ", 1);
	http_put(out, m->raw + m->url.off, m->url.len);
	http_put(out, "\r\n", 2);
	http_write_fields(m, out, upgrade, 0);
	http_write_framing(m, out);
	if (upgrade)
		http_put(out, "Connection: upgrade\r\n", 21);
	else if (!keep_alive)
		http_put(out, "Connection: close\r\n", 19);
	else if (m->client_http10)
		http_put(out, "Connection: keep-alive\r\n", 24);
	if (m->parser.http_minor == 0)
		http_put(out, HTTP_VIA_10, sizeof(HTTP_VIA_10) - 1);
	else
		http_put(out, HTTP_VIA_11, sizeof(HTTP_VIA_11) - 1);
	http_out_flush(out);
	return 0;
}

/* The proxy answers as the origin of its own responses: with a Date
 * (RFC 9110 6.6.1), IMF-fixdate. */
#define HTTP_DATE_LEN	32

static void
http_date(char *buf, size_t len)
{
	struct tm	tm;
	time_t		now = time(NULL);

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 GMT");
}

int
http_msg_max_forwards(const struct http_msg *m, unsigned long *hops)
{
	const char	*v = NULL;
	size_t		 len = 0, i;
	int		 f, n = 0;

	if (m->parser.type != HTTP_REQUEST ||
	    (m->parser.method != HTTP_OPTIONS && m->parser.method != HTTP_TRACE))
		return 0;
	for (f = 0; f < m->nfields; f++)
		if (http_span_is(m, &m->fields[f].name, "max-forwards", 12)) {
			v = m->raw + m->fields[f].value.off;
			len = m->fields[f].value.len;
			n++;
		}
	if (n == 0)
		return 0;
	/* 1*DIGIT, once (RFC 9110 7.6.2); a larger count than any path
	 * has hops is as good as its 9 digits. */
	if (n > 1 || len == 0)
		return -1;
	*hops = 0;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (*hops < 100000000)
			*hops = *hops * 10 + (unsigned long)(v[i] - '0');
	}
	return 1;
}

int
http_write_options(struct evbuffer *out)
{
	char	date[HTTP_DATE_LEN];

	http_date(date, sizeof(date));
	return evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n"
	    "Date: %s\r\n"
	    "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH, CONNECT\r\n"
	    "Content-Length: 0\r\n"
	    "Connection: close\r\n"
	    "\r\n", date) < 0 ? -1 : 0;
}

int
http_write_trace(struct evbuffer *out, const struct http_msg *m)
{
	static const char *const secret[] = { "authorization",
	    "proxy-authorization", "cookie", NULL };
	struct evbuffer		*body;
	const struct http_field	*f;
	char			 date[HTTP_DATE_LEN];
	int			 i, k, rc;

	if ((body = evbuffer_new()) == NULL)
		return -1;
	/* The request as received, less the fields likely to hold secrets
	 * (RFC 9110 9.3.8). */
	evbuffer_add_printf(body, "%s %.*s HTTP/%u.%u\r\n", http_msg_method(m),
	    (int)m->url.len, m->raw + m->url.off, m->parser.http_major,
	    m->parser.http_minor);
	for (i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		for (k = 0; secret[k] != NULL; k++)
			if (http_span_is(m, &f->name, secret[k], strlen(secret[k])))
				break;
		if (secret[k] == NULL)
			evbuffer_add_printf(body, "%.*s: %.*s\r\n",
			    (int)f->name.len, m->raw + f->name.off,
			    (int)f->value.len, m->raw + f->value.off);
	}
	evbuffer_add(body, "\r\n", 2);
	http_date(date, sizeof(date));
	rc = evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n"
	    "Date: %s\r\n"
	    "Content-Type: message/http\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "\r\n", date, evbuffer_get_length(body)) < 0 ||
	    evbuffer_add_buffer(out, body) == -1 ? -1 : 0;
	evbuffer_free(body);
	return rc;
}

int
http_write_error(struct evbuffer *out, int status, const char *reason,
    const char *proxy_status, const char *details)
{
	const char	*text;
	char		 date[HTTP_DATE_LEN];

	switch (status) {
	case 400: text = "Bad Request"; break;
	case 403: text = "Forbidden"; break;
	case 408: text = "Request Timeout"; break;
	case 431: text = "Request Header Fields Too Large"; break;
	case 500: text = "Internal Server Error"; break;
	case 501: text = "Not Implemented"; break;
	case 502: text = "Bad Gateway"; break;
	case 503: text = "Service Unavailable"; break;
	case 504: text = "Gateway Timeout"; break;
	case 505: text = "HTTP Version Not Supported"; break;
	default: text = "Error"; break;
	}
	http_date(date, sizeof(date));
	return evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Date: %s\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "Proxy-Status: arcproxy; error=%s%s%s%s\r\n"
	    "\r\n%s\n", status, text, date, strlen(reason) + 1, proxy_status,
	    details ? "; details=\"" : "", details ? details : "",
	    details ? "\"" : "", reason) < 0 ? -1 : 0;
}
