/* status.h -- every way a request can fail: its HTTP status, its RFC 9209 Proxy-Status token, its metric label. */
#ifndef STATUS_H
#define STATUS_H

enum px_error {
	PXE_NONE,
	PXE_BAD_REQUEST,	/* malformed request head or body framing */
	PXE_ORIGIN_FORM,	/* a request for the proxy itself, not through it */
	PXE_BAD_SCHEME,		/* absolute-form with a scheme other than http */
	PXE_BAD_METHOD,		/* a method the proxy does not know */
	PXE_BAD_VERSION,	/* HTTP/x.y with x other than 1 */
	PXE_HEAD_TOO_LARGE,	/* request head over limits.max_head_bytes */
	PXE_HEAD_TIMEOUT,	/* request head not complete in time */
	PXE_CLIENT_DENIED,	/* client address not allowed */
	PXE_ROUTE_DENIED,	/* a rule or the default says deny */
	PXE_GUARDED,		/* SSRF guard: loopback, link-local, own ports */
	PXE_ROUTE_DOWN,		/* the route has no way out (not configured) */
	PXE_DNS,		/* name does not resolve */
	PXE_REFUSED,		/* upstream refused the connection */
	PXE_UNREACHABLE,	/* no route to the upstream host */
	PXE_CONNECT_TIMEOUT,	/* DNS plus connect took too long */
	PXE_UPSTREAM_PROTOCOL,	/* upstream sent something that is not HTTP */
	PXE_UPSTREAM_CLOSED,	/* upstream closed before a full response */
	PXE_RESPONSE_TOO_LARGE,	/* response head over limits.max_head_bytes */
	PXE_OVERLOAD,		/* limits.max_connections reached */
	PXE_IDLE_TIMEOUT,	/* no byte either way for too long */
	PXE_CLIENT_ABORT,	/* client went away mid-exchange */
	PXE_INTERNAL,		/* out of memory or a system call failed */
	PXE_GATEWAY_DOWN,	/* the Arc gateway cannot be reached */
	PXE_GATEWAY_DENIED,	/* the gateway refused the destination */
	PXE_GATEWAY_TARGET,	/* the gateway could not reach the destination */
	PXE_PROXY_DOWN,		/* the enterprise proxy cannot be reached */
	PXE_PROXY_REFUSED,	/* the enterprise proxy refused the CONNECT */
	PXE_SHUTDOWN,		/* closed by SIGTERM: a tunnel's grace or the drain ran out */
	PXE__COUNT
};

struct px_error_info {
	int		 status;	/* HTTP status sent to the client */
	const char	*proxy_status;	/* RFC 9209 error type */
	const char	*label;		/* metric label and access-log word */
	const char	*reason;	/* the short body of the error response */
};

extern const struct px_error_info px_errors[PXE__COUNT];

#endif
