/* challenge.h -- the token API's challenge keys: one random secret per file, readable by the himds group, single use, short-lived. */
#ifndef CHALLENGE_H
#define CHALLENGE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct himds_challenge;

/* Keys live in dir, whose fd dirfd the caller opened (O_NOFOLLOW, and
 * checked: root never reopens it by name); it is duplicated and kept.  Each
 * lives lifetime seconds; at most max are outstanding, per_uid of them for
 * one caller.  No key is ever retired before its time to make room. */
struct himds_challenge	*himds_challenge_new(const char *dir, int dirfd,
			    int lifetime, int max, int per_uid);
/* Removes the outstanding key files too. */
void			 himds_challenge_free(struct himds_challenge *);
/* Writes a new <dir>/<random>.key (mode 0640, no fsync: tmpfs) for the
 * caller uid and puts its path in path: 0.  1 when uid has per_uid live
 * keys or all max are live: *retry_after says in how many seconds the
 * oldest that stands in the way expires.  -1 with err on failure. */
int			 himds_challenge_issue(struct himds_challenge *, time_t now,
			    uid_t uid, char *path, size_t pathlen,
			    time_t *retry_after, char *err, size_t errlen);
/* 0 when secret is the content of an outstanding key that has not expired:
 * that key is used up (its file removed).  -1 for anything else. */
int			 himds_challenge_redeem(struct himds_challenge *,
			    const char *secret, time_t now);
/* Retires the keys that expired by now; returns how many. */
int			 himds_challenge_expire(struct himds_challenge *,
			    time_t now);
int			 himds_challenge_outstanding(
			    const struct himds_challenge *);
/* Removes every *.key file in the directory dirfd, dir (left by an earlier
 * run); -1 with err when it cannot be read. */
int			 himds_challenge_clean_dir(int dirfd,
			    const char *dir, char *err, size_t errlen);

#endif
