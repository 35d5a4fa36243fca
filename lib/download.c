/* download.c -- a URL fetched into a file of a directory fd, through the local proxy only, resumed with Range and retried with back-off. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "download.h"
#include "safedir.h"

#define DOWNLOAD_BACKOFF_MAX_MS	30000L

struct download_sink {
	int		 fd;		/* the file, or -1: memory */
	char		*mem;
	size_t		 memlen;
	uint64_t	 have;		/* bytes in the file or memory */
	uint64_t	 max;
	int		 too_big;
	int		 write_error;	/* errno */
	long		 status;	/* of the answer, once the head is in */
	int		 restart;	/* 200 to a Range: start over */
};

static size_t
download_write(char *data, size_t size, size_t n, void *arg)
{
	struct download_sink	*s = arg;
	size_t			 len = size * n, off = 0;
	ssize_t			 w;
	char			*p;

	if (s->restart)
		return 0;
	if (s->max > 0 && s->have + len > s->max) {
		s->too_big = 1;
		return 0;
	}
	if (s->fd == -1) {
		if ((p = realloc(s->mem, s->memlen + len + 1)) == NULL) {
			s->write_error = ENOMEM;
			return 0;
		}
		s->mem = p;
		memcpy(s->mem + s->memlen, data, len);
		s->memlen += len;
		s->mem[s->memlen] = '\0';
		s->have += len;
		return len;
	}
	while (off < len) {
		if ((w = write(s->fd, data + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			s->write_error = errno;
			return 0;
		}
		off += (size_t)w;
	}
	s->have += len;
	return len;
}

/* Learns the status from the head, so that a 200 to a Range request is
 * caught before a byte of it is appended. */
static size_t
download_header(char *data, size_t size, size_t n, void *arg)
{
	struct download_sink	*s = arg;
	int			 code;

	if (n * size > 9 && strncmp(data, "HTTP/", 5) == 0 &&
	    sscanf(data, "HTTP/%*s %d", &code) == 1) {
		s->status = code;
		if (s->have > 0 && code == 200)
			s->restart = 1;
	}
	return size * n;
}

static CURL *
download_easy(const struct download_req *r, struct download_sink *s,
    char *errbuf)
{
	CURL	*e;

	if ((e = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	/* The appliance's rule: out only through arcproxy, never around it. */
	curl_easy_setopt(e, CURLOPT_PROXY, r->proxy ? r->proxy : "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (r->ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms > 0 ?
	    r->connect_timeout_ms : 30000L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, r->stall_seconds > 0 ?
	    r->stall_seconds : 30L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, download_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, download_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
	/* The proxy's answer to CONNECT is not the server's status. */
	curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	return e;
}

static int
download_retryable(long status)
{
	return status == 0 || status == 408 || status == 416 ||
	    status == 429 || status >= 500;
}

/* Sleeps ms, in slices so that stop() is heard; non-zero when stopped. */
static int
download_wait(const struct download_req *r, long ms)
{
	struct timespec	ts;
	long		slice;

	while (ms > 0) {
		if (r->stop != NULL && r->stop(r->stop_arg))
			return 1;
		slice = ms > 200 ? 200 : ms;
		ts.tv_sec = slice / 1000;
		ts.tv_nsec = (slice % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return r->stop != NULL && r->stop(r->stop_arg);
}

/* One transfer into s from s->have on; the curl code, the status in s. */
static CURLcode
download_once(const struct download_req *r, struct download_sink *s,
    char *errbuf)
{
	CURL		*e;
	CURLcode	 rc;

	errbuf[0] = '\0';
	s->status = 0;
	s->restart = 0;
	if ((e = download_easy(r, s, errbuf)) == NULL)
		return CURLE_OUT_OF_MEMORY;
	if (s->have > 0)
		curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE,
		    (curl_off_t)s->have);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK || s->status == 0)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &s->status);
	curl_easy_cleanup(e);
	return rc;
}

static int
download_run(const struct download_req *r, struct download_sink *s,
    struct download_result *res, char *err, size_t errlen)
{
	char		errbuf[CURL_ERROR_SIZE];
	CURLcode	rc;
	long		wait = r->backoff_ms > 0 ? r->backoff_ms : 1000L;
	int		attempts = r->attempts > 0 ? r->attempts : DOWNLOAD_ATTEMPTS;
	int		i;

	res->resumed_from = s->have;
	for (i = 1; i <= attempts; i++) {
		if (r->stop != NULL && r->stop(r->stop_arg)) {
			snprintf(err, errlen, "%s: stopped", r->url);
			return -1;
		}
		res->attempts = i;
		rc = download_once(r, s, errbuf);
		res->status = s->status;
		if (s->write_error != 0) {
			snprintf(err, errlen, "%s: writing: %s", r->url,
			    strerror(s->write_error));
			return -1;
		}
		if (s->too_big) {
			res->too_big = 1;
			snprintf(err, errlen, "%s: more than the %llu bytes "
			    "expected", r->url, (unsigned long long)s->max);
			return -1;
		}
		if (rc == CURLE_OK && (s->status == 200 || s->status == 206))
			return 0;
		/* A partial file the server will not continue: start over. */
		if (s->restart || s->status == 416 || (s->status == 200 &&
		    s->have > 0))
			s->restart = 1;
		if (rc == CURLE_OK || s->status >= 400)
			snprintf(err, errlen, "%s: HTTP %ld after %d attempt%s",
			    r->url, s->status, i, i == 1 ? "" : "s");
		else
			snprintf(err, errlen, "%s: %s after %d attempt%s", r->url,
			    errbuf[0] ? errbuf : curl_easy_strerror(rc), i,
			    i == 1 ? "" : "s");
		if (s->status >= 400 && !download_retryable(s->status))
			return -1;
		if (s->restart) {
			s->have = 0;
			if (s->fd != -1 && (ftruncate(s->fd, 0) == -1 ||
			    lseek(s->fd, 0, SEEK_SET) == -1)) {
				snprintf(err, errlen, "%s: truncating: %s",
				    r->url, strerror(errno));
				return -1;
			}
			free(s->mem);
			s->mem = NULL;
			s->memlen = 0;
			res->resumed_from = 0;
			if (s->status != 416)
				continue;	/* at once, from 0 */
		}
		if (i < attempts && download_wait(r, wait)) {
			snprintf(err, errlen, "%s: stopped", r->url);
			return -1;
		}
		wait = wait * 2 > DOWNLOAD_BACKOFF_MAX_MS ?
		    DOWNLOAD_BACKOFF_MAX_MS : wait * 2;
	}
	return -1;
}

int
download_fetch(int dirfd, const char *name, const struct download_req *r,
    struct download_result *res, char *err, size_t errlen)
{
	struct download_sink	s;
	struct stat		st;
	char			part[512], why[256];
	int			rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&s, 0, sizeof(s));
	s.max = r->max_bytes;
	if ((size_t)snprintf(part, sizeof(part), "%s" DOWNLOAD_PART_SUFFIX,
	    name) >= sizeof(part)) {
		snprintf(err, errlen, "%s: name too long", name);
		return -1;
	}
	if ((s.fd = safedir_open_file(dirfd, part, O_WRONLY | O_CREAT |
	    O_APPEND, 0600, SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, why,
	    sizeof(why))) == -1) {
		snprintf(err, errlen, "%s: %s", part, why);
		return -1;
	}
	if (fstat(s.fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", part, strerror(errno));
		goto done;
	}
	s.have = (uint64_t)st.st_size;
	if (s.max > 0 && s.have > s.max) {
		/* Longer than the package can be: it was something else. */
		if (ftruncate(s.fd, 0) == -1) {
			snprintf(err, errlen, "%s: %s", part, strerror(errno));
			goto done;
		}
		s.have = 0;
	}
	if (s.max > 0 && s.have == s.max) {
		res->resumed_from = s.have;
		rc = 0;			/* complete already; verified later */
	} else
		rc = download_run(r, &s, res, err, errlen);
	if (rc == 0 && fsync(s.fd) == -1) {
		snprintf(err, errlen, "%s: fsync: %s", part, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && renameat(dirfd, part, dirfd, name) == -1) {
		snprintf(err, errlen, "%s: rename: %s", part, strerror(errno));
		rc = -1;
	}
	res->bytes = s.have;
 done:
	close(s.fd);
	return rc;
}

int
download_small(const struct download_req *r, size_t max, void **out,
    size_t *outlen, char *err, size_t errlen)
{
	struct download_sink	s;
	struct download_result	res;

	memset(&s, 0, sizeof(s));
	memset(&res, 0, sizeof(res));
	s.fd = -1;
	s.max = max;
	if (download_run(r, &s, &res, err, errlen) == -1) {
		free(s.mem);
		return -1;
	}
	if (s.mem == NULL && (s.mem = calloc(1, 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*out = s.mem;
	*outlen = s.memlen;
	return 0;
}
