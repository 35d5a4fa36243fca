/* budget.h -- a worker's budget for the bytes its connections buffer, counted exactly as buffers grow and drain. */
#ifndef BUDGET_H
#define BUDGET_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;

struct budget {
	size_t		 used;		/* bytes in tracked buffers now */
	size_t		 limit;		/* past it, readers pause (relay_throttle) */
	uint64_t	*gauge;		/* a metric that mirrors used, or NULL */
};

void	budget_init(struct budget *, size_t limit, uint64_t *gauge);
/* Counts the input and output of bev from now on (again: no double count). */
void	budget_track(struct budget *, struct bufferevent *);
/* Stops counting bev, before it is freed or handed on. */
void	budget_untrack(struct budget *, struct bufferevent *);
int	budget_spent(const struct budget *);
/* Bytes that may still be read before the budget is spent. */
size_t	budget_left(const struct budget *);

#endif
