/* acceptor.c -- listening sockets on an event loop that pause, instead of spinning, when accept runs out of descriptors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "acceptor.h"
#include "addr.h"

#define ACCEPTOR_MAX	16	/* sockets in one acceptor */

struct acceptor {
	struct event_base	*base;
	const struct acceptor_ops *ops;
	void			*arg;
	struct evconnlistener	*listeners[ACCEPTOR_MAX];
	int			 n;
	struct event		*resume;	/* re-enables accept after a pause */
	unsigned long long	 pauses;
	struct timeval		 logged;	/* the last pause line */
};

static void
acceptor_on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *peer, int peerlen, void *arg)
{
	struct acceptor	*a = arg;

	(void)l;
	a->ops->accepted(a->arg, fd, peer, peerlen);
}

static void
acceptor_on_error(struct evconnlistener *l, void *arg)
{
	struct acceptor	*a = arg;
	struct timeval	 tv = { 0, ACCEPTOR_BACKOFF_MS * 1000 }, now;
	char		 line[160];
	int		 err = EVUTIL_SOCKET_ERROR(), i, say;

	(void)l;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		snprintf(line, sizeof(line), "accept: %s", strerror(err));
		a->ops->failed(a->arg, err, 0, line);
		return;
	}
	/* Out of descriptors: pause accepting instead of spinning on the error,
	 * and say so once in a while, not at every pause. */
	a->pauses++;
	event_base_gettimeofday_cached(a->base, &now);
	say = a->logged.tv_sec == 0 ||
	    now.tv_sec - a->logged.tv_sec >= ACCEPTOR_LOG_EVERY_S;
	if (say) {
		snprintf(line, sizeof(line), "accept: %s; pausing for %d ms "
		    "(%llu pauses so far)", strerror(err), ACCEPTOR_BACKOFF_MS,
		    a->pauses);
		a->logged = now;
	}
	for (i = 0; i < a->n; i++)
		evconnlistener_disable(a->listeners[i]);
	evtimer_add(a->resume, &tv);
	a->ops->failed(a->arg, err, 1, say ? line : NULL);
}

static void
acceptor_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct acceptor	*a = arg;
	int		 i;

	(void)fd;
	(void)what;
	for (i = 0; i < a->n; i++)
		evconnlistener_enable(a->listeners[i]);
}

struct acceptor *
acceptor_new(struct event_base *base, const struct acceptor_ops *ops, void *arg,
    char *err, size_t errlen)
{
	struct acceptor	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->resume = evtimer_new(base, acceptor_on_resume, a)) == NULL) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->base = base;
	a->ops = ops;
	a->arg = arg;
	return a;
}

int
acceptor_add(struct acceptor *a, evutil_socket_t fd, char *err, size_t errlen)
{
	struct evconnlistener	*l;

	if (a->n == ACCEPTOR_MAX) {
		close(fd);
		snprintf(err, errlen, "more than %d listening sockets", ACCEPTOR_MAX);
		return -1;
	}
	if ((l = evconnlistener_new(a->base, acceptor_on_accept, a,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	evconnlistener_set_error_cb(l, acceptor_on_error);
	a->listeners[a->n++] = l;
	return 0;
}

int
acceptor_listen(struct acceptor *a, const struct sockaddr *sa, socklen_t len,
    int reuseport, int backlog, char *err, size_t errlen)
{
	int	fd;

	if ((fd = addr_listen(sa, len, reuseport, backlog, err, errlen)) == -1)
		return -1;
	return acceptor_add(a, fd, err, errlen);
}

void
acceptor_free(struct acceptor *a)
{
	int	i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++)
		evconnlistener_free(a->listeners[i]);
	event_free(a->resume);
	free(a);
}
