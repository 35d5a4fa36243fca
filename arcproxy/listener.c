/* listener.c -- a worker's listening sockets: SO_REUSEPORT, client checks, connection limit, EMFILE back-off. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "addr.h"
#include "conn.h"
#include "fdlimit.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"
#include "worker.h"

#define LISTENER_BACKLOG	1024
#define LISTENER_BACKOFF_MS	100
#define LISTENER_LOG_EVERY_S	10	/* at most one back-off line per worker */

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
listener_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct worker	*w = arg;
	long long	 total;

	(void)l;
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

static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	int		 i;

	(void)fd;
	(void)what;
	if (w->draining)
		return;
	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_enable(w->listeners[i]);
}

static void
listener_error(struct evconnlistener *l, void *arg)
{
	struct worker	*w = arg;
	struct timeval	 tv = { 0, LISTENER_BACKOFF_MS * 1000 }, now;
	int		 err = EVUTIL_SOCKET_ERROR(), i;

	(void)l;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warnx("accept: %s", strerror(err));
		return;
	}
	/* Out of descriptors: pause accepting instead of spinning on the error,
	 * and say so once in a while, not at every pause. */
	METRIC_ADD(w->stats.accept_backoffs, 1);
	event_base_gettimeofday_cached(w->base, &now);
	if (w->accept_logged.tv_sec == 0 ||
	    now.tv_sec - w->accept_logged.tv_sec >= LISTENER_LOG_EVERY_S) {
		log_warnx("accept: %s; pausing for %d ms (%llu pauses so far)",
		    strerror(err), LISTENER_BACKOFF_MS,
		    (unsigned long long)w->stats.accept_backoffs);
		w->accept_logged = now;
	}
	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_disable(w->listeners[i]);
	evtimer_add(w->accept_retry, &tv);
}

int
listener_open_all(struct worker *w, char *err, size_t errlen)
{
	const struct config	*cfg = w->cfg;
	int			 i, fd;

	if ((w->accept_retry = evtimer_new(w->base, listener_resume, w)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < cfg->nlisten; i++) {
		if ((fd = addr_listen((const struct sockaddr *)&cfg->listen[i],
		    cfg->listen_len[i], 1, LISTENER_BACKLOG, err, errlen)) == -1)
			return -1;
		w->listeners[i] = evconnlistener_new(w->base, listener_accept, w,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
		if (w->listeners[i] == NULL) {
			close(fd);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		evconnlistener_set_error_cb(w->listeners[i], listener_error);
		w->nlisteners++;
	}
	return 0;
}

void
listener_close_all(struct worker *w)
{
	int	i;

	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_free(w->listeners[i]);
	w->nlisteners = 0;
	if (w->accept_retry != NULL) {
		event_free(w->accept_retry);
		w->accept_retry = NULL;
	}
}
