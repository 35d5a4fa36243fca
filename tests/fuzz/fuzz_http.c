/* fuzz_http.c -- the HTTP harnesses' tools: reads cut from the input, a reference parse by a fresh http-parser, the strict RFC 9112 chunked grammar, failure reports. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

enum {
	FZ_CB_NONE,
	FZ_CB_FIELD,
	FZ_CB_VALUE,
};

void
fz_show(const char *label, const void *data, size_t len)
{
	const unsigned char	*p = data;
	size_t			 i;

	fprintf(stderr, "%s (%zu bytes): \"", label, len);
	for (i = 0; i < len && i < 4096; i++) {
		if (p[i] == '\\' || p[i] == '"')
			fprintf(stderr, "\\%c", p[i]);
		else if (p[i] == '\r')
			fputs("\\r", stderr);
		else if (p[i] == '\n')
			fputs("\\n\"\n  \"", stderr);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], stderr);
		else
			fprintf(stderr, "\\x%02x", p[i]);
	}
	fprintf(stderr, "\"%s\n", i < len ? " ..." : "");
}

void
fz_fail(const char *fmt, ...)
{
	va_list	ap;

	fputs("\n*** HTTP property broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	abort();
}

/* splitmix64: a fixed sequence from the input's hash. */
static uint64_t
fz_rand(struct fz_feed *f)
{
	uint64_t	z = (f->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
fz_feed_init(struct fz_feed *f, const uint8_t *data, size_t len,
    struct evbuffer *in, int whole)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ data[i]) * 0x100000001b3ULL;
	f->data = data;
	f->len = len;
	f->added = 0;
	f->rng = h;
	f->in = in;
	f->mode = whole ? 0 : (int)(fz_rand(f) % 4);
	if (f->mode == 3)
		f->mode = 2;
}

int
fz_feed_next(struct fz_feed *f)
{
	size_t		 left = f->len - f->added, n;
	uint64_t	 r;

	if (left == 0)
		return 0;
	r = fz_rand(f);
	switch (f->mode) {
	case 0:
		n = left;
		break;
	case 1:
		n = 1 + r % 7;
		break;
	default:
		n = 1 + (r >> 8) % 300;
		break;
	}
	if (n > left)
		n = left;
	/* A reference is its own chain, as a separate read would be; a copy
	 * may land in the last chain's free space. */
	if (r & 1)
		evbuffer_add_reference(f->in, f->data + f->added, n, NULL, NULL);
	else
		evbuffer_add(f->in, f->data + f->added, n);
	f->added += n;
	return 1;
}

static void
fz_buf_add(struct fz_buf *b, const char *p, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static struct fz_msg *
fz_cur(struct fz_parse *fp)
{
	return &fp->msgs[fp->n - 1];
}

static int
fz_on_begin(http_parser *p)
{
	struct fz_parse	*fp = p->data;

	if (fp->n == FZ_MAX_MSGS)
		return -1;
	memset(&fp->msgs[fp->n++], 0, sizeof(fp->msgs[0]));
	fp->last_cb = FZ_CB_NONE;
	return 0;
}

static int
fz_on_url(http_parser *p, const char *at, size_t len)
{
	struct fz_parse	*fp = p->data;

	fz_buf_add(&fz_cur(fp)->url, at, len);
	return 0;
}

static int
fz_on_field(http_parser *p, const char *at, size_t len)
{
	struct fz_parse	*fp = p->data;
	struct fz_msg	*m = fz_cur(fp);
	struct fz_field	**list = m->head_done ? &m->trailers : &m->fields;
	int		*n = m->head_done ? &m->ntrailers : &m->nfields;

	if (fp->last_cb != FZ_CB_FIELD) {
		if ((*list = realloc(*list, (*n + 1) * sizeof(**list))) == NULL)
			abort();
		memset(&(*list)[*n], 0, sizeof(**list));
		(*n)++;
	}
	fp->last_cb = FZ_CB_FIELD;
	fz_buf_add(&(*list)[*n - 1].name, at, len);
	return 0;
}

static int
fz_on_value(http_parser *p, const char *at, size_t len)
{
	struct fz_parse	*fp = p->data;
	struct fz_msg	*m = fz_cur(fp);
	struct fz_field	*list = m->head_done ? m->trailers : m->fields;
	int		 n = m->head_done ? m->ntrailers : m->nfields;

	fp->last_cb = FZ_CB_VALUE;
	fz_buf_add(&list[n - 1].value, at, len);
	return 0;
}

static int
fz_on_headers_complete(http_parser *p)
{
	struct fz_parse	*fp = p->data;
	struct fz_msg	*m = fz_cur(fp);

	m->head_done = 1;
	m->method = p->method;
	m->status = p->status_code;
	m->major = p->http_major;
	m->minor = p->http_minor;
	m->upgrade = p->upgrade;
	m->chunked = (p->flags & F_CHUNKED) != 0;
	fp->last_cb = FZ_CB_NONE;
	/* RFC 9112 6.3: no body after a HEAD request, nor in 1xx, 204, 304. */
	if (p->type == HTTP_RESPONSE && ((fp->flags & FZ_HEAD) ||
	    p->status_code / 100 == 1 || p->status_code == 204 ||
	    p->status_code == 304)) {
		m->chunked = 0;		/* framing fields without a body */
		return 1;
	}
	return 0;
}

static int
fz_on_body(http_parser *p, const char *at, size_t len)
{
	struct fz_parse	*fp = p->data;

	fz_buf_add(&fz_cur(fp)->body, at, len);
	return 0;
}

static int
fz_on_complete(http_parser *p)
{
	struct fz_parse	*fp = p->data;
	struct fz_msg	*m = fz_cur(fp);

	m->complete = 1;
	m->keep_alive = http_should_keep_alive(p);
	if (fp->flags & FZ_ONE)
		http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings fz_settings = {
	.on_message_begin = fz_on_begin,
	.on_url = fz_on_url,
	.on_status = fz_on_url,
	.on_header_field = fz_on_field,
	.on_header_value = fz_on_value,
	.on_headers_complete = fz_on_headers_complete,
	.on_body = fz_on_body,
	.on_message_complete = fz_on_complete,
};

void
fz_parse(struct fz_parse *fp, enum http_parser_type type, const char *data,
    size_t len, int flags)
{
	size_t	off = 0, n;

	memset(fp, 0, sizeof(*fp));
	fp->flags = flags;
	http_parser_init(&fp->parser, type);
	fp->parser.data = fp;
	while (off < len) {
		n = http_parser_execute(&fp->parser, &fz_settings, data + off,
		    len - off);
		off += n;
		if (HTTP_PARSER_ERRNO(&fp->parser) == HPE_PAUSED) {
			fz_cur(fp)->end = off;
			fp->consumed = off;
			return;
		}
		if (HTTP_PARSER_ERRNO(&fp->parser) != HPE_OK) {
			fp->error = HTTP_PARSER_ERRNO(&fp->parser);
			fp->consumed = off;
			return;
		}
		if (fp->parser.upgrade || n == 0)
			break;		/* the rest is another protocol */
	}
	fp->consumed = off;
	if ((flags & FZ_EOF) && !fp->parser.upgrade) {
		http_parser_execute(&fp->parser, &fz_settings, NULL, 0);
		if (HTTP_PARSER_ERRNO(&fp->parser) == HPE_PAUSED)
			fz_cur(fp)->end = off;
		else if (HTTP_PARSER_ERRNO(&fp->parser) != HPE_OK)
			fp->error = HTTP_PARSER_ERRNO(&fp->parser);
	}
}

static void
fz_fields_free(struct fz_field *f, int n)
{
	int	i;

	for (i = 0; i < n; i++) {
		free(f[i].name.p);
		free(f[i].value.p);
	}
	free(f);
}

void
fz_parse_free(struct fz_parse *fp)
{
	int	i;

	for (i = 0; i < fp->n; i++) {
		free(fp->msgs[i].url.p);
		free(fp->msgs[i].body.p);
		fz_fields_free(fp->msgs[i].fields, fp->msgs[i].nfields);
		fz_fields_free(fp->msgs[i].trailers, fp->msgs[i].ntrailers);
	}
	fp->n = 0;
}

/* The strict grammar, RFC 9112 7.1 and RFC 9110 5.5/5.6. */

static int
fz_tchar(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
fz_vchar(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/* Skips BWS; 0 when input ran out. */
static int
fz_ows(const char *p, size_t len, size_t *i)
{
	while (*i < len && (p[*i] == ' ' || p[*i] == '\t'))
		(*i)++;
	return *i < len;
}

/* Returns -1 invalid, 0 out of input, 1 matched CRLF. */
static int
fz_crlf(const char *p, size_t len, size_t *i)
{
	if (*i >= len)
		return 0;
	if (p[*i] != '\r')
		return -1;
	if (*i + 1 >= len)
		return 0;
	if (p[*i + 1] != '\n')
		return -1;
	*i += 2;
	return 1;
}

/* chunk-size [ chunk-ext ] CRLF: -1, 0 (out of input) or 1, with the size. */
static int
fz_chunk_line(const char *p, size_t len, size_t *i, uint64_t *size)
{
	int	digits = 0;

	*size = 0;
	while (*i < len && isxdigit((unsigned char)p[*i])) {
		if (*size >> 60)
			return -1;	/* larger than any body we could carry */
		*size = *size * 16 + (uint64_t)(isdigit((unsigned char)p[*i]) ?
		    p[*i] - '0' : (tolower((unsigned char)p[*i]) - 'a' + 10));
		(*i)++;
		digits++;
	}
	if (*i >= len)
		return 0;
	if (digits == 0)
		return -1;
	for (;;) {
		/* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ) */
		if (!fz_ows(p, len, i))
			return 0;
		if (p[*i] != ';')
			break;
		(*i)++;
		if (!fz_ows(p, len, i))
			return 0;
		if (!fz_tchar((unsigned char)p[*i]))
			return -1;
		while (*i < len && fz_tchar((unsigned char)p[*i]))
			(*i)++;
		if (!fz_ows(p, len, i))
			return 0;
		if (p[*i] != '=')
			continue;
		(*i)++;
		if (!fz_ows(p, len, i))
			return 0;
		if (p[*i] == '"') {
			for ((*i)++; ; (*i)++) {
				unsigned char c;

				if (*i >= len)
					return 0;
				c = (unsigned char)p[*i];
				if (c == '"')
					break;
				if (c == '\\') {
					if (++(*i) >= len)
						return 0;
					c = (unsigned char)p[*i];
					if (c != '\t' && c != ' ' && !fz_vchar(c))
						return -1;
					continue;
				}
				if (c != '\t' && c != ' ' && !fz_vchar(c))
					return -1;
			}
			(*i)++;
		} else {
			if (!fz_tchar((unsigned char)p[*i]))
				return -1;
			while (*i < len && fz_tchar((unsigned char)p[*i]))
				(*i)++;
		}
	}
	/* Whitespace before CRLF with no extension is not in the grammar. */
	if (*i > 0 && (p[*i - 1] == ' ' || p[*i - 1] == '\t'))
		return -1;
	return fz_crlf(p, len, i);
}

/* field-line CRLF, or the final CRLF: -1, 0, 1 (a field) or 2 (the end). */
static int
fz_trailer_line(const char *p, size_t len, size_t *i)
{
	size_t	start = *i;
	int	r;

	if (*i < len && p[*i] == '\r') {
		r = fz_crlf(p, len, i);
		return r == 1 ? 2 : r;
	}
	while (*i < len && fz_tchar((unsigned char)p[*i]))
		(*i)++;
	if (*i >= len)
		return 0;
	if (*i == start || p[*i] != ':')
		return -1;
	for ((*i)++; *i < len; (*i)++) {
		unsigned char c = (unsigned char)p[*i];

		if (c == '\r')
			break;
		if (c != ' ' && c != '\t' && !fz_vchar(c))
			return -1;
	}
	return fz_crlf(p, len, i);
}

int
fz_chunked_valid(const char *p, size_t len, size_t *end)
{
	size_t		i = 0;
	uint64_t	size;
	int		r;

	for (;;) {
		if ((r = fz_chunk_line(p, len, &i, &size)) != 1)
			return r;
		if (size == 0)
			break;
		if (len - i < size)
			return 0;
		i += size;
		if ((r = fz_crlf(p, len, &i)) != 1)
			return r;
	}
	for (;;) {
		if ((r = fz_trailer_line(p, len, &i)) == 2)
			break;
		if (r != 1)
			return r;
	}
	*end = i;
	return 1;
}
