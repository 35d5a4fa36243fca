/* acceptor.c -- listening sockets on an event loop that pause, instead of spinning, when accept runs out of descriptors. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "acceptor.h"
#include "addr.h"
#include "log.h"

#define ACCEPTOR_MAX	16	/* sockets in one acceptor */

struct acceptor {
	struct event_base	*base;
	const struct acceptor_ops *ops;
	void			*arg;
	struct evconnlistener	*listeners[ACCEPTOR_MAX];	/* its own */
	int			 n;
	struct evconnlistener	*watched[ACCEPTOR_MAX];	/* their owners' */
	int			 nwatched;
	struct acceptor		*next_watching;	/* in watching */
	struct event		*resume;	/* re-enables accept after a pause */
	unsigned long long	 pauses;
	struct timeval		 logged;	/* the last pause line */
};

/* The acceptors that watch listeners.  A watched listener's callbacks get
 * its owner's argument (evhttp passes itself), so its error callback finds
 * the acceptor here, by listener; acceptors on other threads' bases may
 * come and go meanwhile. */
static pthread_mutex_t	 watching_lock = PTHREAD_MUTEX_INITIALIZER;
static struct acceptor	*watching;

/* What an acceptor without a failed() callback does: the line, logged. */
static const struct acceptor_ops acceptor_watch_only;

static void
acceptor_report(const struct acceptor *a, int err, int paused,
    const char *line)
{
	if (a->ops->failed != NULL)
		a->ops->failed(a->arg, err, paused, line);
	else if (line != NULL && a->ops->name != NULL)
		log_warnx("%s: %s", a->ops->name, line);
	else if (line != NULL)
		log_warnx("%s", line);
}

static void
acceptor_on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *peer, int peerlen, void *arg)
{
	struct acceptor	*a = arg;

	(void)l;
	a->ops->accepted(a->arg, fd, peer, peerlen);
}

static void
acceptor_set_enabled(struct acceptor *a, int on)
{
	int	(*set)(struct evconnlistener *), i;

	set = on ? evconnlistener_enable : evconnlistener_disable;
	for (i = 0; i < a->n; i++)
		set(a->listeners[i]);
	for (i = 0; i < a->nwatched; i++)
		set(a->watched[i]);
}

/* accept on one of the acceptor's sockets failed with err. */
static void
acceptor_failed(struct acceptor *a, int err)
{
	struct timeval	 tv = { 0, ACCEPTOR_BACKOFF_MS * 1000 }, now;
	char		 line[160];
	int		 say;

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		snprintf(line, sizeof(line), "accept: %s", strerror(err));
		acceptor_report(a, err, 0, line);
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
	acceptor_set_enabled(a, 0);
	evtimer_add(a->resume, &tv);
	acceptor_report(a, err, 1, say ? line : NULL);
}

static void
acceptor_on_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	acceptor_failed(arg, EVUTIL_SOCKET_ERROR());
}

/* The acceptor watching l; called with watching_lock held. */
static struct acceptor *
acceptor_watching(const struct evconnlistener *l)
{
	struct acceptor	*a;
	int		 i;

	for (a = watching; a != NULL; a = a->next_watching)
		for (i = 0; i < a->nwatched; i++)
			if (a->watched[i] == l)
				return a;
	return NULL;
}

static void
acceptor_on_watched_error(struct evconnlistener *l, void *owner_arg)
{
	struct acceptor	*a;
	int		 err = EVUTIL_SOCKET_ERROR();

	(void)owner_arg;
	pthread_mutex_lock(&watching_lock);
	a = acceptor_watching(l);
	pthread_mutex_unlock(&watching_lock);
	if (a != NULL)
		acceptor_failed(a, err);
}

static void
acceptor_on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	acceptor_set_enabled(arg, 1);
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
	a->ops = ops != NULL ? ops : &acceptor_watch_only;
	a->arg = arg;
	return a;
}

unsigned long long
acceptor_pauses(const struct acceptor *a)
{
	return a->pauses;
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

int
acceptor_watch(struct acceptor *a, struct evconnlistener *lev, char *err,
    size_t errlen)
{
	if (a->nwatched == ACCEPTOR_MAX) {
		snprintf(err, errlen, "more than %d watched listeners",
		    ACCEPTOR_MAX);
		return -1;
	}
	pthread_mutex_lock(&watching_lock);
	if (a->nwatched == 0) {
		a->next_watching = watching;
		watching = a;
	}
	a->watched[a->nwatched++] = lev;
	pthread_mutex_unlock(&watching_lock);
	evconnlistener_set_error_cb(lev, acceptor_on_watched_error);
	return 0;
}

void
acceptor_free(struct acceptor *a)
{
	struct acceptor	**ap;
	int		  i, paused;

	if (a == NULL)
		return;
	if (a->nwatched > 0) {
		pthread_mutex_lock(&watching_lock);
		for (ap = &watching; *ap != a; ap = &(*ap)->next_watching)
			;
		*ap = a->next_watching;
		pthread_mutex_unlock(&watching_lock);
	}
	/* The watched listeners go on accepting for their owners. */
	paused = evtimer_pending(a->resume, NULL);
	for (i = 0; i < a->nwatched; i++) {
		evconnlistener_set_error_cb(a->watched[i], NULL);
		if (paused)
			evconnlistener_enable(a->watched[i]);
	}
	for (i = 0; i < a->n; i++)
		evconnlistener_free(a->listeners[i]);
	event_free(a->resume);
	free(a);
}
