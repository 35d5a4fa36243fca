/* addr.h -- "127.0.0.1:80" and "[::1]:80" as configuration files write listeners and targets. */
#ifndef ADDR_H
#define ADDR_H

#include <sys/socket.h>

/* A numeric address and port (IPv6 in brackets); -1 when it is not one. */
int	addr_parse(const char *text, struct sockaddr_storage *, socklen_t *);

#endif
