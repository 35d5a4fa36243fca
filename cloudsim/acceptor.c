/* acceptor.c -- a listening socket on the event loop that backs off, instead of spinning, when accept runs out of descriptors. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "acceptor.h"
#include "log.h"

#define ACCEPTOR_BACKOFF_MS	100

struct acceptor {
	const char		*name;		/* "gateway", "echo": for logs */
	struct evconnlistener	*listener;
	struct event		*resume;	/* re-enables accept after a back-off */
	void			(*accepted)(void *, evutil_socket_t,
				    const struct sockaddr *, int);
	void			*arg;
};

void
acceptor_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char	host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else
		snprintf(buf, len, "(family %d)", sa->sa_family);
}

static void
acceptor_on_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *peer, int peerlen, void *arg)
{
	struct acceptor	*a = arg;

	(void)l;
	a->accepted(a->arg, fd, peer, peerlen);
}

static void
acceptor_on_error(struct evconnlistener *l, void *arg)
{
	struct acceptor	*a = arg;
	struct timeval	 tv = { 0, ACCEPTOR_BACKOFF_MS * 1000 };
	int		 err = EVUTIL_SOCKET_ERROR();

	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		log_warnx("%s: accept: %s; pausing for %d ms", a->name,
		    strerror(err), ACCEPTOR_BACKOFF_MS);
		evconnlistener_disable(l);
		evtimer_add(a->resume, &tv);
		return;
	}
	log_warnx("%s: accept: %s", a->name, strerror(err));
}

static void
acceptor_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct acceptor	*a = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(a->listener);
}

struct acceptor *
acceptor_new(struct event_base *base, const char *name,
    const struct sockaddr *sa, int addrlen,
    void (*accepted)(void *, evutil_socket_t, const struct sockaddr *, int),
    void *arg, char *err, size_t errlen)
{
	struct acceptor	*a;
	char		 addr[128];

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	a->name = name;
	a->accepted = accepted;
	a->arg = arg;
	if ((a->resume = evtimer_new(base, acceptor_on_resume, a)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto fail;
	}
	if ((a->listener = evconnlistener_new_bind(base, acceptor_on_accept, a,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, sa, addrlen)) == NULL) {
		acceptor_addr_text(sa, addr, sizeof(addr));
		snprintf(err, errlen, "%s: cannot listen on %s: %s", name, addr,
		    strerror(errno));
		goto fail;
	}
	evconnlistener_set_error_cb(a->listener, acceptor_on_error);
	return a;
 fail:
	acceptor_free(a);
	return NULL;
}

void
acceptor_free(struct acceptor *a)
{
	if (a == NULL)
		return;
	if (a->listener != NULL)
		evconnlistener_free(a->listener);
	if (a->resume != NULL)
		event_free(a->resume);
	free(a);
}
