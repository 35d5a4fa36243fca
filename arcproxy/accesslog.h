/* accesslog.h -- the audit trail: one line per request or tunnel, buffered per worker, appended whole. */
#ifndef ACCESSLOG_H
#define ACCESSLOG_H

#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

struct accesslog;
struct accesslog_writer;
struct event_base;
struct evbuffer;

struct accesslog_entry {
	struct timeval	 start;
	const char	*client;	/* "addr:port" */
	const char	*method;
	const char	*target;
	const char	*route;
	int		 status;
	uint64_t	 bytes_up;	/* client to destination */
	uint64_t	 bytes_down;	/* destination to client */
	long long	 duration_ms;
	const char	*error;		/* "-" when none */
};

/* path "-" is stderr; NULL turns the log off (every write is dropped).
 * Otherwise the file is opened in dirfd (-1: path's directory) without
 * following a symlink, and created with mode 0640 and, unless they are -1,
 * owner uid and group gid, set on its fd. */
struct accesslog	*accesslog_open(const char *path, int dirfd, uid_t uid,
			    gid_t gid, char *err, size_t errlen);
struct accesslog	*accesslog_ref(struct accesslog *);
void			 accesslog_unref(struct accesslog *);

struct accesslog_writer	*accesslog_writer_new(struct event_base *, struct accesslog *);
/* Flushes what is buffered, then writes to log from now on. */
void			 accesslog_writer_set(struct accesslog_writer *, struct accesslog *);
void			 accesslog_writer_free(struct accesslog_writer *);
void			 accesslog_write(struct accesslog_writer *,
			    const struct accesslog_entry *);
void			 accesslog_flush(struct accesslog_writer *);
/* Writes that failed or came short (their lines are lost); any thread. */
uint64_t		 accesslog_writer_errors(const struct accesslog_writer *);
/* Appends e's line, newline included, to out. */
void			 accesslog_format(struct evbuffer *out,
			    const struct accesslog_entry *e);

#endif
