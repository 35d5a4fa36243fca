/* prockill.h -- what a child started killed whole at its time limit: its process group, its session, and every process carrying its environment mark (a daemon that called setsid still has it). */
#ifndef PROCKILL_H
#define PROCKILL_H

#include <stddef.h>
#include <sys/types.h>

#define PROCKILL_MARK_MAX	80	/* "NAME=" + 32 hex digits, NAME short */

/*
 * Fills buf with "name=<32 random hex digits>": put it in the child's
 * environment.  0, or -1 (errno) when no randomness or buf too small.
 */
int	prockill_mark(const char *name, char *buf, size_t len);

/*
 * SIGKILLs the group of leader (a child that made its own group or
 * session, leader still unreaped), then sweeps /proc until a sweep finds
 * nothing more: every process whose group or session is leader's, or whose
 * environment holds mark exactly (NULL: none).  Without a cgroup this is
 * what a process can evade only by clearing its environment and leaving
 * the session at once.  Async-signal-unsafe: call from the parent.
 */
void	prockill_run(pid_t leader, const char *mark);

/*
 * pid's start time (/proc/<pid>/stat field 22, clock ticks after boot):
 * with the pid, it names one process, as a pid alone does not once it is
 * reused.  0, or -1 when pid is gone.
 */
int	prockill_starttime(pid_t pid, unsigned long long *start);

/*
 * What a run left when the process that started it died (its records:
 * leader, leader's start time, mark): when leader is still that process
 * (same start time) and its group's leader, prockill_run(leader, mark)
 * and 1; otherwise the pid may be another's now, so only the processes
 * whose environment holds mark are killed, and 0.
 */
int	prockill_leftover(pid_t leader, unsigned long long start,
	    const char *mark);

#endif
