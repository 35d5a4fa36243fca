/* url.h -- "scheme://host[:port]" as agent.conf writes the gateway and proxy URLs. */
#ifndef URL_H
#define URL_H

#include <stddef.h>
#include <stdint.h>

/* Host (lower case, IPv6 without brackets) and port of a URL with the given
 * scheme and no path, user or query; -1 when it is not one. */
int	url_parse_authority(const char *url, const char *scheme,
	    uint16_t default_port, char *host, size_t hostlen, uint16_t *port);

#endif
