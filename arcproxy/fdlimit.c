/* fdlimit.c -- descriptors: raise the soft RLIMIT_NOFILE to the hard one and size the connection limit to fit. */
#include <sys/resource.h>

#include "config.h"
#include "fdlimit.h"
#include "log.h"
#include "proxy.h"

#define FDLIMIT_PROCESS		32	/* stdio, admin, signals, logs, main loop */
#define FDLIMIT_PER_WORKER	16	/* its loop, wake-up pipe, resolver, gateway */

long long
fdlimit_reserve(const struct config *cfg)
{
	return FDLIMIT_PROCESS + (long long)cfg->workers *
	    (cfg->nlisten + cfg->limits.pool_max_idle + FDLIMIT_PER_WORKER);
}

long long
fdlimit_max_connections(const struct config *cfg, long long nofile)
{
	long long	fit;

	/* A client socket and its upstream socket each. */
	fit = (nofile - fdlimit_reserve(cfg)) / 2;
	if (fit < 1)
		fit = 1;
	return fit < cfg->limits.max_connections ? fit :
	    cfg->limits.max_connections;
}

void
fdlimit_setup(struct proxy *px)
{
	struct rlimit	rl;
	long long	fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit");
		px->nofile = 1024;
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t	soft = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("setrlimit RLIMIT_NOFILE %llu",
			    (unsigned long long)rl.rlim_max);
			rl.rlim_cur = soft;
		}
	}
	px->nofile = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1ULL << 30) ?
	    1LL << 30 : (long long)rl.rlim_cur;
	fit = fdlimit_max_connections(px->cfg, px->nofile);
	if (fit < px->cfg->limits.max_connections)
		log_warnx("open files limit %lld (reserve %lld) fits %lld "
		    "connections: max_connections %lld lowered to %lld",
		    px->nofile, fdlimit_reserve(px->cfg), fit,
		    px->cfg->limits.max_connections, fit);
	else
		log_info("open files limit %lld (reserve %lld): max_connections "
		    "%lld fits", px->nofile, fdlimit_reserve(px->cfg),
		    px->cfg->limits.max_connections);
}
