/* peercred.h -- who is at the other end of a loopback TCP connection: the uid that owns the client's socket, from the kernel's socket table. */
#ifndef PEERCRED_H
#define PEERCRED_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/*
 * SO_PEERCRED answers only on Unix sockets.  On loopback the client's own
 * TCP socket is in this machine's table: NETLINK_SOCK_DIAG looks it up by
 * its exact 4-tuple (its address is our peer's, its peer our address) and
 * says which uid made it.  0 with *uid set; -1 with err filled (not a
 * loopback peer, or the socket is gone).
 */
int	peercred_tcp_uid(int fd, uid_t *uid, char *err, size_t errlen);
/* The same from the addresses: local is ours, peer the client's. */
int	peercred_tcp_uid_addrs(const struct sockaddr *local,
	    const struct sockaddr *peer, uid_t *uid, char *err, size_t errlen);
/* Is uid root, this process's uid, or a member of group (by getgrouplist,
 * the primary group included)?  1 yes, 0 no. */
int	peercred_uid_allowed(uid_t uid, const char *group);

#endif
