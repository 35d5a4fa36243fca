/* probe.h -- one HTTP(S) exchange on libcurl that keeps what a diagnosis needs: the proxy's answer, the server's Date, TLS version, timing. */
#ifndef PROBE_H
#define PROBE_H

#include <stddef.h>
#include <time.h>

struct probe_req {
	const char	*method;	/* "GET" when NULL */
	const char	*url;
	const char	*proxy;		/* "http://127.0.0.1:40343"; NULL: none */
	const char	*ca_file;	/* trust for an https server */
	const char	*resolve;	/* "host:port:address" (a hosts-table entry), or NULL */
	const char	*header;	/* one more request header, or NULL */
	long		 timeout_ms;
};

struct probe_resp {
	long		 status;	/* the server's HTTP status; 0 when none came */
	long		 connect_status;/* the proxy's answer to CONNECT; 0 when none */
	char		 proxy_status[256];	/* a Proxy-Status header, if any */
	time_t		 date;		/* the server's Date; -1 when it sent none */
	char		 tls_version[16];	/* "TLSv1.3", or "" */
	double		 seconds;	/* the whole exchange */
	long		 local_port;	/* our end of the first hop */
	char		 error[256];	/* why there was no answer, or "" */
	char		*body;		/* NUL-terminated, or NULL */
	size_t		 body_len;
};

/* 0 when an HTTP answer came (any status), -1 with resp->error filled. */
int	probe_run(const struct probe_req *, struct probe_resp *);
void	probe_resp_free(struct probe_resp *);

#endif
