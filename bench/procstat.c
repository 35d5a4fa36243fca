/* procstat.c -- what a process has used, from /proc: CPU seconds, resident and peak resident memory. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"

static int
procstat_cpu(pid_t pid, struct procstat *ps)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 utime, stime;
	FILE		*f;
	size_t		 n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: start after the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &utime, &stime) != 2) {
		errno = EINVAL;
		return -1;
	}
	ps->cpu_seconds = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

int
procstat_read(pid_t pid, struct procstat *ps)
{
	char	 path[64], line[256];
	FILE	*f;

	memset(ps, 0, sizeof(*ps));
	if (procstat_cpu(pid, ps) == -1)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			sscanf(line + 6, "%ld", &ps->rss_kib);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			sscanf(line + 6, "%ld", &ps->hwm_kib);
		else if (strncmp(line, "Threads:", 8) == 0)
			sscanf(line + 8, "%ld", &ps->threads);
	}
	fclose(f);
	return 0;
}
