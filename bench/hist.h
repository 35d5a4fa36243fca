/* hist.h -- a log-bucket latency histogram: 64 linear steps per power of two, so every value is kept within 1.6%. */
#ifndef HIST_H
#define HIST_H

#include <stdint.h>

#define HIST_SUB_BITS	6
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_MAX_BITS	42			/* 2^42 ns: over an hour */
#define HIST_BUCKETS	(HIST_SUB + (HIST_MAX_BITS - HIST_SUB_BITS) * HIST_SUB)

struct hist {
	uint64_t	count;
	uint64_t	sum;			/* ns, for the mean */
	uint64_t	min;
	uint64_t	max;
	uint64_t	buckets[HIST_BUCKETS];
};

void		hist_init(struct hist *);
void		hist_add(struct hist *, uint64_t ns);
void		hist_merge(struct hist *to, const struct hist *from);
/* The value at quantile q (0..1): the top of its bucket, never above max; 0 when empty. */
uint64_t	hist_quantile(const struct hist *, double q);

#endif
