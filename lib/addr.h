/* addr.h -- "127.0.0.1:80" and "[::1]:80" as configuration files and logs write listeners, peers and targets. */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Room for the longest addr_format() text: "[v6 address]:65535". */
#define ADDR_TEXT_MAX	64

/* A numeric address and port (IPv6 in brackets); -1 when it is not one. */
int	addr_parse(const char *text, struct sockaddr_storage *, socklen_t *);
/* A non-blocking listening TCP socket (IPv6 only for IPv6 addresses, and
 * SO_REUSEPORT when asked); -1 with err naming the address and why. */
int	addr_listen(const struct sockaddr *, socklen_t, int reuseport, int backlog,
	    char *err, size_t errlen);
/* The address as text: "1.2.3.4:80", "[::1]:80", or "(family N)". */
void	addr_format(const struct sockaddr *, char *buf, size_t len);

#endif
