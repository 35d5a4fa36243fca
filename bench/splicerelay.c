/* splicerelay.c -- the bench's floors: the least a CONNECT relay can do (one thread, raw epoll, splice(2) both ways), and with -f the least an HTTP proxy can do for keep-alive GETs (a fixed upstream, plain read and write, no parsing, no log), so that arcproxy's rows have a second-hop reference measured in the same run. */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SR_PIPE_BYTES	(1024 * 1024)	/* as arcproxy's RELAY_PIPE_BYTES */
#define SR_HEAD_MAX	2048
#define SR_EVENTS	64
#define SR_FWD_BUF	16384	/* -f: what one read(2) may take from one end */

/* One end of a tunnel; a flow moves from this end's socket to the other's. */
struct sr_end {
	struct sr_tunnel	*t;
	int			 fd;
	int			 p[2];		/* the pipe of the flow out of this end */
	size_t			 held;		/* bytes in that pipe */
	int			 eof;		/* this end sent EOF */
	int			 shut;		/* we sent EOF to this end */
	unsigned		 mask;		/* what epoll watches on fd */
	char			*buf;		/* -f: the bytes read from fd, not yet written */
	size_t			 off;		/* -f: where the unwritten ones start */
};

struct sr_tunnel {
	struct sr_end	 end[2];	/* 0: the client, 1: the target */
	int		 open;		/* 0: reading the CONNECT head */
	int		 dead;		/* closed; freed after this batch of events */
	struct sr_tunnel *next_dead;
	char		 head[SR_HEAD_MAX];
	size_t		 len;
};

static int		 sr_ep;
static size_t		 sr_pipe_bytes = SR_PIPE_BYTES;	/* argv[2]: to try others */
static struct sr_tunnel	*sr_dead;	/* later events of a batch may name them */
static struct sockaddr_in sr_upstream;	/* -f: every client's bytes go there */

static void
sr_watch(struct sr_end *e, unsigned mask)
{
	struct epoll_event	ev = { .events = mask, .data.ptr = e };

	if (mask == e->mask)
		return;
	epoll_ctl(sr_ep, e->mask == 0 ? EPOLL_CTL_ADD : mask == 0 ?
	    EPOLL_CTL_DEL : EPOLL_CTL_MOD, e->fd, &ev);
	e->mask = mask;
}

static void
sr_free(struct sr_tunnel *t)
{
	int	i;

	t->dead = 1;
	t->next_dead = sr_dead;
	sr_dead = t;
	for (i = 0; i < 2; i++) {
		if (t->end[i].fd != -1)
			close(t->end[i].fd);	/* leaves the epoll set too */
		if (t->end[i].p[0] != -1) {
			close(t->end[i].p[0]);
			close(t->end[i].p[1]);
		}
		free(t->end[i].buf);
	}
}

/* What from sent is all written: its EOF goes on to the other end. */
static void
sr_pass_eof(struct sr_end *from, struct sr_end *to)
{
	if (from->eof && from->held == 0 && !to->shut) {
		shutdown(to->fd, SHUT_WR);
		to->shut = 1;
	}
}

/* One direction: socket to pipe to socket, until the source is empty or
 * the destination full.  Returns -1 on an error. */
static int
sr_flow(struct sr_end *from, struct sr_end *to)
{
	ssize_t	n;

	for (;;) {
		if (from->held == 0 && !from->eof) {
			n = splice(from->fd, NULL, from->p[1], NULL, sr_pipe_bytes,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == 0)
				from->eof = 1;
			else if (n == -1 && errno != EAGAIN)
				return -1;
			else if (n > 0)
				from->held = (size_t)n;
		}
		if (from->held == 0)
			break;
		n = splice(from->p[0], NULL, to->fd, NULL, from->held,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1 && errno != EAGAIN)
			return -1;
		if (n <= 0)
			break;
		from->held -= (size_t)n;
	}
	sr_pass_eof(from, to);
	return 0;
}

/* Both directions, then what each socket must be watched for. */
static void
sr_pump(struct sr_tunnel *t)
{
	struct sr_end	*a = &t->end[0], *b = &t->end[1];

	if (sr_flow(a, b) == -1 || sr_flow(b, a) == -1 ||
	    (a->shut && b->shut)) {
		sr_free(t);
		return;
	}
	sr_watch(a, (a->held == 0 && !a->eof ? EPOLLIN : 0) |
	    (b->held > 0 ? EPOLLOUT : 0));
	sr_watch(b, (b->held == 0 && !b->eof ? EPOLLIN : 0) |
	    (a->held > 0 ? EPOLLOUT : 0));
}

/* "CONNECT a.b.c.d:port HTTP/1.1": connect (blocking: loopback), answer 200. */
static void
sr_head(struct sr_tunnel *t)
{
	static const char	 ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	char			 host[64];
	unsigned		 port;
	int			 i, one = 1;
	ssize_t			 n;

	n = read(t->end[0].fd, t->head + t->len, sizeof(t->head) - 1 - t->len);
	if (n <= 0 && !(n == -1 && errno == EAGAIN))
		goto fail;
	t->len += n > 0 ? (size_t)n : 0;
	t->head[t->len] = '\0';
	if (strstr(t->head, "\r\n\r\n") == NULL)
		return;		/* the client sends nothing more before the 200 */
	if (sscanf(t->head, "CONNECT %63[0-9.]:%u ", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1 || port > 65535)
		goto fail;
	sin.sin_port = htons(port);
	if ((t->end[1].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(t->end[1].fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	setsockopt(t->end[1].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(t->end[1].fd, F_SETFL, O_NONBLOCK);
	if (write(t->end[0].fd, ok, sizeof(ok) - 1) != sizeof(ok) - 1)
		goto fail;
	for (i = 0; i < 2; i++) {
		if (pipe2(t->end[i].p, O_NONBLOCK | O_CLOEXEC) == -1)
			goto fail;
		fcntl(t->end[i].p[1], F_SETPIPE_SZ, (int)sr_pipe_bytes);
	}
	t->open = 1;
	sr_pump(t);
	return;
 fail:
	sr_free(t);
}

/* -f, one direction: at most one read(2) and one write(2), which is all a
 * small request or answer takes.  Returns -1 on an error. */
static int
fw_flow(struct sr_end *from, struct sr_end *to, int readable)
{
	ssize_t	n;

	if (readable && from->held == 0 && !from->eof) {
		n = read(from->fd, from->buf, SR_FWD_BUF);
		if (n == 0)
			from->eof = 1;
		else if (n == -1 && errno != EAGAIN)
			return -1;
		else if (n > 0) {
			from->held = (size_t)n;
			from->off = 0;
		}
	}
	if (from->held > 0) {
		n = write(to->fd, from->buf + from->off, from->held);
		if (n == -1 && errno != EAGAIN)
			return -1;
		if (n > 0) {
			from->off += (size_t)n;
			from->held -= (size_t)n;
		}
	}
	sr_pass_eof(from, to);
	return 0;
}

/* -f: only the direction an event concerns, so that no read(2) is made
 * on a socket that epoll did not report (a request's event would
 * otherwise try the upstream too, and find it empty). */
static void
fw_event(struct sr_end *e, unsigned events)
{
	struct sr_tunnel	*t = e->t;
	struct sr_end		*o = &t->end[e == &t->end[0]];
	struct sr_end		*a = &t->end[0], *b = &t->end[1];

	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR) &&
	    fw_flow(e, o, 1) == -1) ||
	    (events & EPOLLOUT && fw_flow(o, e, 0) == -1) ||
	    (a->shut && b->shut)) {
		sr_free(t);
		return;
	}
	sr_watch(a, (a->held == 0 && !a->eof ? EPOLLIN : 0) |
	    (b->held > 0 ? EPOLLOUT : 0));
	sr_watch(b, (b->held == 0 && !b->eof ? EPOLLIN : 0) |
	    (a->held > 0 ? EPOLLOUT : 0));
}

/* -f: the upstream connection of a new client (blocking connect: loopback). */
static int
fw_open(struct sr_tunnel *t)
{
	int	fd, one = 1;

	if ((t->end[0].buf = malloc(SR_FWD_BUF)) == NULL ||
	    (t->end[1].buf = malloc(SR_FWD_BUF)) == NULL ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	t->end[1].fd = fd;
	if (connect(fd, (struct sockaddr *)&sr_upstream, sizeof(sr_upstream)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	t->open = 1;
	sr_watch(&t->end[1], EPOLLIN);
	return 0;
}

static void
sr_accept(int lfd)
{
	struct sr_tunnel	*t;
	int			 fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		if ((t = calloc(1, sizeof(*t))) == NULL) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		t->end[0] = (struct sr_end){ t, fd, { -1, -1 }, 0, 0, 0, 0, NULL, 0 };
		t->end[1] = (struct sr_end){ t, -1, { -1, -1 }, 0, 0, 0, 0, NULL, 0 };
		if (sr_upstream.sin_port != 0 && fw_open(t) == -1) {
			perror("splicerelay: upstream");
			sr_free(t);
			continue;
		}
		sr_watch(&t->end[0], EPOLLIN);
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[SR_EVENTS], lev = { .events = EPOLLIN };
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 len = sizeof(sin);
	struct sr_end		*e;
	struct sr_tunnel	*t;
	char			 host[64];
	unsigned		 port;
	int			 lfd, n, i, one = 1;

	/* -f a.b.c.d:port: forward every connection there, as it is */
	if (argc > 2 && strcmp(argv[1], "-f") == 0) {
		if (sscanf(argv[2], "%63[0-9.]:%u", host, &port) != 2 ||
		    inet_pton(AF_INET, host, &sr_upstream.sin_addr) != 1 ||
		    port == 0 || port > 65535) {
			fprintf(stderr, "splicerelay: -f needs a.b.c.d:port, "
			    "not %s\n", argv[2]);
			return 2;
		}
		sr_upstream.sin_family = AF_INET;
		sr_upstream.sin_port = htons(port);
		argc -= 2;
		argv += 2;
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(argc > 1 ? (unsigned short)atoi(argv[1]) : 0);
	if (argc > 2 && (sr_pipe_bytes = strtoul(argv[2], NULL, 10)) < 4096)
		sr_pipe_bytes = 4096;
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 4096) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1 ||
	    (sr_ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    epoll_ctl(sr_ep, EPOLL_CTL_ADD, lfd, &lev) == -1) {
		perror("splicerelay");
		return 1;
	}
	printf("splicerelay pid=%d port=%u%s\n", (int)getpid(), ntohs(sin.sin_port),
	    sr_upstream.sin_port != 0 ? " forward" : "");
	fflush(stdout);
	for (;;) {
		if ((n = epoll_wait(sr_ep, evs, SR_EVENTS, -1)) == -1 && errno != EINTR)
			return 1;
		for (i = 0; i < n; i++) {
			if ((e = evs[i].data.ptr) == NULL)
				sr_accept(lfd);
			else if (e->t->dead)
				continue;
			else if (sr_upstream.sin_port != 0)
				fw_event(e, evs[i].events);
			else if (!e->t->open)
				sr_head(e->t);
			else
				sr_pump(e->t);
		}
		while ((t = sr_dead) != NULL) {
			sr_dead = t->next_dead;
			free(t);
		}
	}
}
