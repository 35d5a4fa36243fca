/* fdlimit_test.c -- max_connections sized to RLIMIT_NOFILE: two descriptors a connection after the reserve. */
#include <string.h>

#include "config.h"
#include "fdlimit.h"
#include "unit.h"

static void
test_sizes_to_the_limit(void)
{
	struct config	cfg;
	long long	reserve;

	memset(&cfg, 0, sizeof(cfg));
	cfg.workers = 1;
	cfg.nlisten = 1;
	cfg.limits.pool_max_idle = 64;
	cfg.limits.max_connections = 8192;
	reserve = fdlimit_reserve(&cfg);
	CU_ASSERT(reserve > 64 && reserve < 256);
	/* 1024 soft: (1024 - reserve) / 2 connections, not 8192. */
	CU_ASSERT_EQUAL(fdlimit_max_connections(&cfg, 1024), (1024 - reserve) / 2);
	/* Plenty: the configured limit. */
	CU_ASSERT_EQUAL(fdlimit_max_connections(&cfg, 1 << 20), 8192);
	/* Less than the reserve: one connection, never 0 or negative. */
	CU_ASSERT_EQUAL(fdlimit_max_connections(&cfg, 16), 1);
	/* More workers and idle upstreams need more reserve. */
	cfg.workers = 4;
	CU_ASSERT(fdlimit_reserve(&cfg) > reserve);
	CU_ASSERT(fdlimit_max_connections(&cfg, 1024) < (1024 - reserve) / 2);
}

static const struct unit_test tests[] = {
	{ "max_connections sized to the open files limit", test_sizes_to_the_limit },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("fdlimit", tests);
}
