/* listener.c -- a worker's listening sockets: SO_REUSEPORT, client checks, connection limit, EMFILE back-off. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "acceptor.h"
#include "conn.h"
#include "fdlimit.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"
#include "worker.h"

#define LISTENER_BACKLOG	1024

/* A refusal that fits in one send: the socket is fresh, its buffer empty. */
static void
listener_refuse(int fd, enum px_error error)
{
	const struct px_error_info	*e = &px_errors[error];
	struct evbuffer			*b;
	ssize_t				 n;

	if ((b = evbuffer_new()) != NULL) {
		http_write_error(b, e->status, e->reason, e->proxy_status, NULL);
		n = send(fd, evbuffer_pullup(b, -1), evbuffer_get_length(b),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n;
		evbuffer_free(b);
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void
listener_accept(void *arg, evutil_socket_t fd, struct sockaddr *sa, int len)
{
	struct worker	*w = arg;
	long long	 total;

	if (!config_client_allowed(w->cfg, sa)) {
		METRIC_ADD(w->stats.errors[PXE_CLIENT_DENIED], 1);
		listener_refuse(fd, PXE_CLIENT_DENIED);
		return;
	}
	total = __atomic_add_fetch(&w->px->nconns, 1, __ATOMIC_RELAXED);
	if (total > fdlimit_max_connections(w->cfg, w->px->nofile)) {
		__atomic_sub_fetch(&w->px->nconns, 1, __ATOMIC_RELAXED);
		METRIC_ADD(w->stats.errors[PXE_OVERLOAD], 1);
		listener_refuse(fd, PXE_OVERLOAD);
		return;
	}
	w->nconns++;
	/* conn_new() closes fd and reports through worker_conn_closed() on failure. */
	conn_new(w, fd, sa, (socklen_t)len);
}

/* Out of descriptors the acceptor pauses; counted each time, logged once
 * in a while. */
static void
listener_error(void *arg, int err, int paused, const char *line)
{
	struct worker	*w = arg;

	(void)err;
	if (paused)
		METRIC_ADD(w->stats.accept_backoffs, 1);
	if (line != NULL)
		log_warnx("%s", line);
}

static const struct acceptor_ops listener_ops = {
	listener_accept, listener_error, NULL
};

int
listener_open_all(struct worker *w, char *err, size_t errlen)
{
	const struct config	*cfg = w->cfg;
	int			 i;

	if ((w->acceptor = acceptor_new(w->base, &listener_ops, w, err,
	    errlen)) == NULL)
		return -1;
	for (i = 0; i < cfg->nlisten; i++)
		if (acceptor_listen(w->acceptor,
		    (const struct sockaddr *)&cfg->listen[i], cfg->listen_len[i], 1,
		    LISTENER_BACKLOG, err, errlen) == -1)
			return -1;
	return 0;
}

void
listener_close_all(struct worker *w)
{
	acceptor_free(w->acceptor);
	w->acceptor = NULL;
}
