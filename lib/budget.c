/* budget.c -- a worker's budget for the bytes its connections buffer, counted exactly as buffers grow and drain. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "budget.h"

/* The gauge is read by other threads (arcproxy's admin API). */
static void
budget_report(struct budget *b)
{
	if (b->gauge != NULL)
		__atomic_store_n(b->gauge, (uint64_t)b->used, __ATOMIC_RELAXED);
}

static void
budget_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct budget	*b = arg;

	(void)buf;
	b->used += info->n_added;
	b->used -= info->n_deleted < b->used ? info->n_deleted : b->used;
	budget_report(b);
}

void
budget_init(struct budget *b, size_t limit, uint64_t *gauge)
{
	b->used = 0;
	b->limit = limit;
	b->gauge = gauge;
}

static void
budget_untrack_buffer(struct budget *b, struct evbuffer *buf)
{
	size_t	len;

	/* Found (0): it was counted; its bytes leave the count with it. */
	if (evbuffer_remove_cb(buf, budget_changed, b) == 0) {
		len = evbuffer_get_length(buf);
		/* A deferred report may not have counted all of it yet. */
		b->used -= len < b->used ? len : b->used;
		budget_report(b);
	}
}

void
budget_track(struct budget *b, struct bufferevent *bev)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer	*out = bufferevent_get_output(bev);

	budget_untrack_buffer(b, in);
	budget_untrack_buffer(b, out);
	if (evbuffer_add_cb(in, budget_changed, b) == NULL)
		return;			/* out of memory: uncounted */
	if (evbuffer_add_cb(out, budget_changed, b) == NULL) {
		evbuffer_remove_cb(in, budget_changed, b);
		return;
	}
	b->used += evbuffer_get_length(in) + evbuffer_get_length(out);
	budget_report(b);
}

void
budget_untrack(struct budget *b, struct bufferevent *bev)
{
	if (bev == NULL)
		return;
	budget_untrack_buffer(b, bufferevent_get_input(bev));
	budget_untrack_buffer(b, bufferevent_get_output(bev));
}

int
budget_spent(const struct budget *b)
{
	return b->used >= b->limit;
}

size_t
budget_left(const struct budget *b)
{
	return b->used >= b->limit ? 0 : b->limit - b->used;
}
