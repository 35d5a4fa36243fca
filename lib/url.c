/* url.c -- "scheme://host[:port]" as agent.conf writes the gateway and proxy URLs. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int
url_parse_authority(const char *url, const char *scheme, uint16_t default_port,
    char *host, size_t hostlen, uint16_t *port)
{
	size_t		 slen = strlen(scheme), hlen;
	const char	*h, *end, *colon;
	char		*e;
	long		 p;

	if (strncmp(url, scheme, slen) != 0 || strncmp(url + slen, "://", 3) != 0)
		return -1;
	h = url + slen + 3;
	end = h + strcspn(h, "/");
	if (*end == '/' && end[1] != '\0')
		return -1;		/* a path means a typo */
	if (*h == '[') {
		const char *close = memchr(h, ']', end - h);

		if (close == NULL)
			return -1;
		colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
		hlen = close - h - 1;
		h++;
	} else {
		colon = memchr(h, ':', end - h);
		hlen = (colon ? colon : end) - h;
	}
	if (hlen == 0 || hlen >= hostlen)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = default_port;
	if (colon != NULL) {
		p = strtol(colon + 1, &e, 10);
		if (e != end || p < 1 || p > 65535)
			return -1;
		*port = (uint16_t)p;
	}
	for (e = host; *e != '\0'; e++) {
		if (!isalnum((unsigned char)*e) && strchr("-._:%", *e) == NULL)
			return -1;
		*e = (char)tolower((unsigned char)*e);
	}
	return 0;
}

int
url_parse_local_proxy(const char *url, char *host, size_t hostlen,
    uint16_t *port, const char **why)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (url_parse_authority(url, "http", 3128, host, hostlen, port) == -1) {
		*why = "is not like \"http://127.0.0.1:40343\"";
		return -1;
	}
	if (strcmp(host, "localhost") == 0 ||
	    (inet_pton(AF_INET, host, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127) ||
	    (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6)))
		return 0;
	*why = "is not on this machine (the agentlets reach the network only "
	    "through arcproxy, on loopback)";
	return -1;
}
