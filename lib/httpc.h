/* httpc.h -- the agentlets' outbound HTTPS on libcurl, always through the local proxy, driven by libevent (or blocking, for CLIs). */
#ifndef HTTPC_H
#define HTTPC_H

#include <stddef.h>

struct event_base;
struct httpc;

struct httpc_req {
	const char	*method;	/* "GET", "POST", "DELETE", ... */
	const char	*url;
	const char	*body;		/* NULL for none */
	size_t		 body_len;
	const char	*content_type;	/* of body; "application/json" when NULL */
	const char	*proxy;		/* "http://127.0.0.1:40343": the only way out */
	const char	*ca_file;	/* trust for the server; verification stays on */
	const char	*cert_file;	/* client certificate (the machine's), or NULL */
	const char	*key_file;
	/* Or both as PEM in memory (curl copies them): what root read
	 * safely from a folder another user owns, never opened by path. */
	const char	*cert_pem;
	size_t		 cert_pem_len;
	const char	*key_pem;
	size_t		 key_pem_len;
	long		 timeout_ms;
};

struct httpc_resp {
	long		 status;	/* HTTP status; 0 when no answer came */
	char		*body;		/* NUL-terminated; the callee owns it */
	size_t		 body_len;
	char		 error[256];	/* why there was no answer, or "" */
	char		 tls_version[16];/* "TLSv1.3", when known */
	double		 seconds;	/* total time */
};

/* Called once, from the loop. resp is valid during the call only. */
typedef void httpc_cb(const struct httpc_resp *, void *arg);

struct httpc	*httpc_new(struct event_base *);
/* Cancels what is under way (no callbacks) and frees. */
void		 httpc_free(struct httpc *);
int		 httpc_request(struct httpc *, const struct httpc_req *, httpc_cb *,
		    void *arg);
/* The same, blocking: for the CLI.  resp->body is the caller's to free. */
int		 httpc_request_sync(const struct httpc_req *, struct httpc_resp *);

#endif
