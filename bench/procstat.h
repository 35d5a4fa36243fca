/* procstat.h -- what a process has used, from /proc: CPU seconds, resident and peak resident memory. */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include <sys/types.h>

struct procstat {
	double		cpu_seconds;	/* user plus system, all threads */
	long		rss_kib;	/* VmRSS */
	long		hwm_kib;	/* VmHWM: the peak of VmRSS */
	long		threads;
};

/* 0, or -1 with errno set when the process cannot be read. */
int	procstat_read(pid_t, struct procstat *);

#endif
