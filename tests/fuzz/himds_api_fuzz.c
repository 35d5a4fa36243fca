/* himds_api_fuzz.c -- libFuzzer: any bytes from a local client to himds's REST API (api.c on evhttp, on a UNIX socket): well-formed answers with the statuses the API gives, token key files within their cap, no crash, no leak. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <http_parser.h>

#include "api.h"
#include "challenge.h"
#include "fuzz_file.h"
#include "himds.h"
#include "log.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_KEYS_MAX	8	/* token keys outstanding, all callers */

static struct himds	 fz_h;
static struct sockaddr_un fz_sun;
static char		 fz_tokens[PATH_MAX];

static void
fz_bad(const char *what, const uint8_t *data, size_t len, const char *reply,
    size_t rlen)
{
	fprintf(stderr, "\n*** himds API property broken: %s\nrequest (%zu bytes): "
	    "%.*s\nreply (%zu bytes): %.*s\n", what, len, (int)(len > 2048 ? 2048 :
	    len), (const char *)data, rlen, (int)(rlen > 2048 ? 2048 : rlen), reply);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*dir;
	char		 err[512];
	int		 fd;

	(void)argc;
	(void)argv;
	log_init("himds_api_fuzz", 1, LOG_LEVEL_WARN);
	dir = fz_dir_new("himds-api");
	snprintf(fz_tokens, sizeof(fz_tokens), "%s", fz_dir_new("himds-tokens"));
	memset(&fz_h, 0, sizeof(fz_h));
	if ((fz_h.base = event_base_new()) == NULL)
		abort();
	fz_h.config_dir = fz_h.state_dir = fz_h.run_dir = dir;
	fz_h.own_fd = -1;
	/* No machine identity: himds as before `azcmagent connect`. */
	snprintf(fz_h.machine_error, sizeof(fz_h.machine_error), "not connected");
	fz_sun.sun_family = AF_UNIX;
	snprintf(fz_sun.sun_path, sizeof(fz_sun.sun_path), "%s/api.sock", dir);
	memcpy(&fz_h.settings.listen[0], &fz_sun, sizeof(fz_sun));
	fz_h.settings.listen_len[0] = sizeof(fz_sun);
	fz_h.settings.nlisten = 1;
	fz_h.settings.token_key_lifetime_seconds = 60;
	fz_h.settings.token_key_dir = fz_tokens;
	if ((fd = open(fz_tokens, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (fz_h.challenge = himds_challenge_new(fz_tokens, fd, 60,
	    FZ_KEYS_MAX, FZ_KEYS_MAX)) == NULL)
		abort();
	close(fd);
	if ((fz_h.api = himds_api_new(&fz_h, err, sizeof(err))) == NULL) {
		fprintf(stderr, "himds_api_new: %s\n", err);
		abort();
	}
	return 0;
}

static int
fz_on_status_done(http_parser *p)
{
	static const unsigned ok[] = { 200, 400, 401, 403, 404, 405, 408, 411,
	    413, 414, 429, 431, 500, 501, 503, 505, 0 };
	int	i;

	for (i = 0; ok[i] != 0; i++)
		if (p->status_code == ok[i])
			return 0;
	*(int *)p->data = 1;
	return 0;
}

/* Rewrites "HTTP/<digits, dots, minus>" at the start of each status line as
 * "HTTP/1.1" and spaces, which the parser skips before the status. */
static void
fz_normalize_versions(char *reply, size_t rlen)
{
	char	*p = reply, *end = reply + rlen, *sp;
	size_t	 vlen;

	while (p != NULL && p + 9 < end) {
		if (memcmp(p, "HTTP/", 5) == 0 &&
		    (sp = memchr(p + 5, ' ', (size_t)(end - p - 5))) != NULL &&
		    (vlen = (size_t)(sp - p - 5)) >= 3 &&
		    strspn(p + 5, "-0123456789.") >= vlen) {
			memcpy(p + 5, "1.1", 3);
			memset(p + 8, ' ', vlen - 3);
		}
		/* The next status line follows a blank line and a body; look
		 * for it after every CRLF. */
		p = memmem(p + 1, (size_t)(end - p - 1), "\r\nHTTP/", 7);
		if (p != NULL)
			p += 2;
	}
}

/* Every byte himds wrote reads as whole HTTP/1.x responses with known statuses. */
static void
fz_check_reply(const uint8_t *data, size_t len, char *reply, size_t rlen)
{
	static const http_parser_settings s = {
		.on_headers_complete = fz_on_status_done,
	};
	http_parser	p;
	size_t		n;
	int		odd = 0;

	/* libevent 2.1 reads the request's version with sscanf("%d.%d") and
	 * echoes it in the status line ("HTTP/-21.1", "HTTP/1.86"): a libevent
	 * defect.  Each status line is read as HTTP/1.1 instead. */
	fz_normalize_versions(reply, rlen);
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &odd;
	n = http_parser_execute(&p, &s, reply, rlen);
	if (n != rlen || HTTP_PARSER_ERRNO(&p) != HPE_OK)
		fz_bad("the reply does not parse as HTTP responses", data, len,
		    reply, rlen);
	if (odd)
		fz_bad("a reply with a status the API never gives", data, len,
		    reply, rlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pollfd	 pfd;
	char		 reply[65536];
	size_t		 rlen = 0, sent = 0;
	ssize_t		 n;
	int		 fd, i, closed = 0;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		abort();
	if (connect(fd, (struct sockaddr *)&fz_sun, sizeof(fz_sun)) == -1 &&
	    errno != EINPROGRESS && errno != EAGAIN)
		abort();
	/* The client writes everything, then half-closes; himds answers
	 * what it read and closes.  Bounded: 400 turns of the loop. */
	for (i = 0; i < 400 && !closed; i++) {
		if (sent < size && (n = write(fd, data + sent, size - sent)) > 0)
			sent += (size_t)n;
		if (sent == size && sent != (size_t)-1) {
			shutdown(fd, SHUT_WR);
			sent = (size_t)-1;
		}
		event_base_loop(fz_h.base, EVLOOP_NONBLOCK);
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, i < 10 ? 0 : 1) == 1) {
			n = read(fd, reply + rlen, sizeof(reply) - rlen);
			if (n == 0 || rlen + (size_t)n == sizeof(reply))
				closed = 1;
			else if (n > 0)
				rlen += (size_t)n;
		}
	}
	close(fd);
	/* Let himds see the close and free the connection. */
	for (i = 0; i < 4; i++)
		event_base_loop(fz_h.base, EVLOOP_NONBLOCK);
	if (getenv("FZ_SHOW") != NULL)	/* replaying one input by hand */
		fprintf(stderr, "reply (%zu bytes):\n%.*s\n", rlen, (int)rlen, reply);
	fz_check_reply(data, size, reply, rlen);
	if (himds_challenge_outstanding(fz_h.challenge) > FZ_KEYS_MAX)
		fz_bad("more token keys than the cap", data, size, reply, rlen);
	/* Keys expire in a minute: clear them, or the cap is all we test. */
	himds_challenge_expire(fz_h.challenge, time(NULL) + 3600);
	return 0;
}
