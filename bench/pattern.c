/* pattern.c -- the deterministic payload that benchorigin sends and arcbench checks byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

struct pattern {
	unsigned char	bytes[2 * PATTERN_PERIOD];	/* one period, twice: any window is contiguous */
};

struct pattern *
pattern_new(void)
{
	struct pattern	*p;
	uint32_t	 x = 2463534242u;
	size_t		 i;

	if ((p = malloc(sizeof(*p))) == NULL)
		return NULL;
	/* xorshift32: cheap, and no run of bytes repeats within a period. */
	for (i = 0; i < PATTERN_PERIOD; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p->bytes[i] = (unsigned char)(x >> 24);
	}
	memcpy(p->bytes + PATTERN_PERIOD, p->bytes, PATTERN_PERIOD);
	return p;
}

void
pattern_free(struct pattern *p)
{
	free(p);
}

const unsigned char *
pattern_at(const struct pattern *p, uint64_t off)
{
	return p->bytes + off % PATTERN_PERIOD;
}

int
pattern_check(const struct pattern *p, uint64_t off, const void *buf,
    size_t len)
{
	const unsigned char	*b = buf;
	size_t			 n;

	while (len > 0) {
		n = len < PATTERN_PERIOD ? len : PATTERN_PERIOD;
		if (memcmp(b, pattern_at(p, off), n) != 0)
			return -1;
		b += n;
		off += n;
		len -= n;
	}
	return 0;
}
