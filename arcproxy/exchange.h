/* exchange.h -- one HTTP request forwarded: the upstream from the pool or opened (and reopened once if stale), the body up, the response down. */
#ifndef EXCHANGE_H
#define EXCHANGE_H

struct conn;

/* The request is routed and its head rewritten: take a pooled upstream or
 * open one (a CONNECT always opens), then forward or tunnel. */
void	exchange_start(struct conn *);
/* CONN_EXCHANGE: the client sent more (body, or a pipelined request). */
void	exchange_client_read(struct conn *);
/* CONN_EXCHANGE: the client's output drained to its low-water mark. */
void	exchange_client_drained(struct conn *);

#endif
