/* download.h -- a URL fetched into a file of a directory fd, through the local proxy only, resumed with Range and retried with back-off. */
#ifndef DOWNLOAD_H
#define DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>

#define DOWNLOAD_ATTEMPTS	10		/* then it gives up */
#define DOWNLOAD_PART_SUFFIX	".part"		/* the file while it grows */

struct download_req {
	const char	*url;		/* https:// only */
	const char	*proxy;		/* "http://127.0.0.1:40343": the only way out */
	const char	*ca_file;	/* trust for the server; verification stays on */
	uint64_t	 max_bytes;	/* more is refused (the catalog's size) */
	int		 attempts;	/* 0: DOWNLOAD_ATTEMPTS */
	long		 backoff_ms;	/* first wait, doubled each time (max 30 s); 0: 1000 */
	long		 stall_seconds;	/* an attempt with no byte for this long ends; 0: 30 */
	long		 connect_timeout_ms; /* 0: 30000 */
	/* Called before each wait and attempt; non-zero stops (e.g. SIGTERM). */
	int		(*stop)(void *arg);
	void		*stop_arg;
};

struct download_result {
	uint64_t	 bytes;		/* of the finished file */
	uint64_t	 resumed_from;	/* bytes kept from an earlier partial file */
	int		 attempts;	/* made */
	long		 status;	/* the last HTTP status */
	int		 too_big;	/* refused: more than max_bytes */
};

/*
 * Fetches req->url into name in dirfd (a directory only the caller
 * writes), blocking.  The bytes go into name.part (opened O_NOFOLLOW,
 * 0600, never through a link); an existing name.part is resumed with a
 * Range request from its size (a server that answers 200 instead of 206
 * starts it over; 416 discards it and starts over), and each failed
 * attempt is retried from what arrived, up to req->attempts, waiting
 * backoff_ms, 2x, 4x... between them.  When complete, name.part is renamed
 * to name.  A 4xx other than 408/416/429 is not retried.  Returns 0, or -1
 * with err saying what happened on the last attempt
 * ("https://...: HTTP 404 after 1 attempt").  The socket is libcurl's,
 * through CURLOPT_PROXY, with no other way out.
 */
int	download_fetch(int dirfd, const char *name, const struct download_req *,
	    struct download_result *, char *err, size_t errlen);

/* Reads a small file (e.g. a signature) whole into memory the same way:
 * at most max bytes, one answer, retried as above.  The caller frees
 * *out.  0, or -1 with err. */
int	download_small(const struct download_req *, size_t max, void **out,
	    size_t *outlen, char *err, size_t errlen);

#endif
