/* bigread.c -- one read of up to max bytes from a socket straight into an evbuffer: libevent 2.1's own reads stop at 4 KiB a call. */
#include <errno.h>
#include <sys/uio.h>

#include <event2/buffer.h>

#include "bigread.h"

ssize_t
bigread(evutil_socket_t fd, struct evbuffer *in, size_t max)
{
	struct evbuffer_iovec	 vec[2];
	struct iovec		 iov[2];
	size_t			 left;
	ssize_t			 n;
	int			 nvec, i, used = 0;

	/* Room in place, so that the bytes are written once, by the kernel. */
	if ((nvec = evbuffer_reserve_space(in, (ev_ssize_t)max, vec, 2)) <= 0) {
		errno = ENOMEM;
		return -1;
	}
	/* The reservation may be larger than asked: read max at the most. */
	for (left = max, i = 0; i < nvec; i++) {
		if (vec[i].iov_len > left)
			vec[i].iov_len = left;
		left -= vec[i].iov_len;
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
	}
	if ((n = readv(fd, iov, nvec)) <= 0) {
		evbuffer_commit_space(in, vec, 0);
		if (n == 0)
			return 0;
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ?
		    BIGREAD_AGAIN : -1;
	}
	for (left = (size_t)n, i = 0; i < nvec && left > 0; i++, used++) {
		if (vec[i].iov_len > left)
			vec[i].iov_len = left;
		left -= vec[i].iov_len;
	}
	evbuffer_commit_space(in, vec, used);
	return n;
}
