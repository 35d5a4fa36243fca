/* hist.c -- a log-bucket latency histogram: 64 linear steps per power of two, so every value is kept within 1.6%. */
#include <string.h>

#include "hist.h"

static unsigned
hist_index(uint64_t v)
{
	unsigned	msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	if (msb >= HIST_MAX_BITS)
		return HIST_BUCKETS - 1;
	shift = msb - HIST_SUB_BITS;
	/* The HIST_SUB_BITS bits below the top one pick the step. */
	return HIST_SUB + shift * HIST_SUB +
	    (unsigned)((v >> shift) & (HIST_SUB - 1));
}

/* The largest value that falls in bucket i. */
static uint64_t
hist_top(unsigned i)
{
	unsigned	shift, step;

	if (i < HIST_SUB)
		return i;
	shift = (i - HIST_SUB) / HIST_SUB;
	step = (i - HIST_SUB) % HIST_SUB;
	return (((uint64_t)HIST_SUB + step + 1) << shift) - 1;
}

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void
hist_add(struct hist *h, uint64_t ns)
{
	h->buckets[hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void
hist_merge(struct hist *to, const struct hist *from)
{
	unsigned	i;

	for (i = 0; i < HIST_BUCKETS; i++)
		to->buckets[i] += from->buckets[i];
	to->count += from->count;
	to->sum += from->sum;
	if (from->min < to->min)
		to->min = from->min;
	if (from->max > to->max)
		to->max = from->max;
}

uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t	rank, seen = 0, top;
	unsigned	i;

	if (h->count == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	/* The smallest value with at least q of the samples at or below it. */
	rank = (uint64_t)(q * (double)h->count + 0.5);
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			top = hist_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
