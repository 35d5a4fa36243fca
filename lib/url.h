/* url.h -- "scheme://host[:port]" as agent.conf writes the gateway and proxy URLs. */
#ifndef URL_H
#define URL_H

#include <stddef.h>
#include <stdint.h>

/* Host (lower case, IPv6 without brackets) and port of a URL with the given
 * scheme and no path, user or query; -1 when it is not one. */
int	url_parse_authority(const char *url, const char *scheme,
	    uint16_t default_port, char *host, size_t hostlen, uint16_t *port);

/* An agentlet's "proxy": an http:// URL whose host is on this machine
 * (127.0.0.0/8, ::1 or localhost), as arcproxy is the only process that
 * reaches the network.  -1 with *why set to the end of a sentence that
 * starts with the URL when it is not one. */
int	url_parse_local_proxy(const char *url, char *host, size_t hostlen,
	    uint16_t *port, const char **why);

#endif
