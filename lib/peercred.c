/* peercred.c -- who is at the other end of a loopback TCP connection: the uid that owns the client's socket, from the kernel's socket table. */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "peercred.h"

#define PEERCRED_MAX_GROUPS	1024

/* An IPv4 address mapped into IPv6 is looked up as the IPv4 socket it is. */
static void
peercred_unmap(const struct sockaddr *sa, struct sockaddr_storage *out)
{
	const struct sockaddr_in6	*s6 = (const struct sockaddr_in6 *)sa;
	struct sockaddr_in		*s4 = (struct sockaddr_in *)out;

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		s4->sin_family = AF_INET;
		s4->sin_port = s6->sin6_port;
		memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	} else if (sa->sa_family == AF_INET6)
		memcpy(out, sa, sizeof(struct sockaddr_in6));
	else
		memcpy(out, sa, sizeof(struct sockaddr_in));
}

static void
peercred_put(const struct sockaddr_storage *ss, __be16 *port, __be32 *addr)
{
	if (ss->ss_family == AF_INET) {
		*port = ((const struct sockaddr_in *)ss)->sin_port;
		memcpy(addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else {
		*port = ((const struct sockaddr_in6 *)ss)->sin6_port;
		memcpy(addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
}

int
peercred_tcp_uid_addrs(const struct sockaddr *local, const struct sockaddr *peer,
    uid_t *uid, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr			nlh;
		struct inet_diag_req_v2		req;
	} msg;
	struct sockaddr_storage	 l, p;
	struct sockaddr_nl	 nladdr, from;
	socklen_t		 fromlen;
	struct nlmsghdr		*h;
	struct inet_diag_msg	*d;
	union {
		char		buf[8192];
		struct nlmsghdr	align;
	} ans;
	ssize_t			 n;
	int			 fd;

	peercred_unmap(local, &l);
	peercred_unmap(peer, &p);
	if (l.ss_family != p.ss_family ||
	    (l.ss_family != AF_INET && l.ss_family != AF_INET6)) {
		snprintf(err, errlen, "not a TCP/IP peer");
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST;	/* one socket, not a dump */
	msg.nlh.nlmsg_seq = 1;
	msg.req.sdiag_family = l.ss_family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = ~0U;
	/* The client's socket: its source is our peer, its destination us. */
	peercred_put(&p, &msg.req.id.idiag_sport, msg.req.id.idiag_src);
	peercred_put(&l, &msg.req.id.idiag_dport, msg.req.id.idiag_dst);
	msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	    NETLINK_SOCK_DIAG)) == -1) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		return -1;
	}
	memset(&nladdr, 0, sizeof(nladdr));
	nladdr.nl_family = AF_NETLINK;
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&nladdr,
	    sizeof(nladdr)) != (ssize_t)sizeof(msg)) {
		snprintf(err, errlen, "sock_diag request: %s", strerror(errno));
		goto fail;
	}
	fromlen = sizeof(from);
	while ((n = recvfrom(fd, ans.buf, sizeof(ans.buf), 0,
	    (struct sockaddr *)&from, &fromlen)) == -1 && errno == EINTR)
		fromlen = sizeof(from);
	if (n == -1) {
		snprintf(err, errlen, "sock_diag answer: %s", strerror(errno));
		goto fail;
	}
	/* Only the kernel's answer counts: another socket of ours could send
	 * to this one and name any uid. */
	if (fromlen < sizeof(from) || from.nl_family != AF_NETLINK ||
	    from.nl_pid != 0) {
		snprintf(err, errlen, "sock_diag answer not from the kernel");
		goto fail;
	}
	for (h = &ans.align; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr	*e = NLMSG_DATA(h);

			snprintf(err, errlen, "the client's socket: %s",
			    e->error == -ENOENT ? "not found (not a local "
			    "client)" : strerror(-e->error));
			goto fail;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)))
			continue;
		d = NLMSG_DATA(h);
		*uid = (uid_t)d->idiag_uid;
		close(fd);
		return 0;
	}
	snprintf(err, errlen, "sock_diag: no answer for the client's socket");
 fail:
	close(fd);
	return -1;
}

int
peercred_tcp_uid(int fd, uid_t *uid, char *err, size_t errlen)
{
	struct sockaddr_storage	local, peer;
	socklen_t		llen = sizeof(local), plen = sizeof(peer);

	if (getsockname(fd, (struct sockaddr *)&local, &llen) == -1 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) == -1) {
		snprintf(err, errlen, "socket addresses: %s", strerror(errno));
		return -1;
	}
	return peercred_tcp_uid_addrs((struct sockaddr *)&local,
	    (struct sockaddr *)&peer, uid, err, errlen);
}

int
peercred_uid_allowed(uid_t uid, const char *group)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 groups[PEERCRED_MAX_GROUPS];
	int		 n = PEERCRED_MAX_GROUPS, i;

	if (uid == 0 || uid == geteuid())
		return 1;
	if (group == NULL || (gr = getgrnam(group)) == NULL ||
	    (pw = getpwuid(uid)) == NULL)
		return 0;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			return 1;
	return 0;
}
