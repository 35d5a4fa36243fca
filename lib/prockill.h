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

#endif
