/* pattern.h -- the deterministic payload that benchorigin sends and arcbench checks byte for byte. */
#ifndef PATTERN_H
#define PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* A prime period, so that no buffer or segment size lines up with it and a
 * lost or repeated block shows as a mismatch. */
#define PATTERN_PERIOD	65521

struct pattern;

/* The table is read-only once made: threads share one. */
struct pattern	*pattern_new(void);
void		 pattern_free(struct pattern *);
/* The bytes from stream offset off on: at least PATTERN_PERIOD of them are
 * contiguous at the pointer returned. */
const unsigned char *pattern_at(const struct pattern *, uint64_t off);
/* 0 when buf holds the stream's bytes from off on, -1 when one differs. */
int		 pattern_check(const struct pattern *, uint64_t off,
		    const void *buf, size_t len);

#endif
