/* challenge.c -- the token API's challenge keys: one random secret per file, readable by the himds group, single use, short-lived. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "atomicfile.h"
#include "challenge.h"

#define CHALLENGE_NAME_BYTES	16	/* file name: 32 hex digits */
#define CHALLENGE_SECRET_BYTES	32	/* content: 64 hex digits */

struct challenge_key {
	char	name[CHALLENGE_NAME_BYTES * 2 + 1];
	char	secret[CHALLENGE_SECRET_BYTES * 2 + 1];
	time_t	expires;
	uid_t	uid;		/* who asked for it */
};

struct himds_challenge {
	char			*dir;
	int			 dfd;		/* dir, opened O_NOFOLLOW */
	int			 lifetime;	/* seconds a key lives */
	int			 max;		/* keys outstanding at most */
	int			 per_uid;	/* of them for one caller */
	int			 n;
	struct challenge_key	*keys;		/* oldest first */
};

struct himds_challenge *
himds_challenge_new(const char *dir, int dirfd, int lifetime, int max,
    int per_uid)
{
	struct himds_challenge	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->dfd = -1;
	if ((c->dir = strdup(dir)) == NULL ||
	    (c->keys = calloc(max, sizeof(*c->keys))) == NULL ||
	    (c->dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) == -1) {
		free(c->keys);
		free(c->dir);
		free(c);
		return NULL;
	}
	c->lifetime = lifetime;
	c->max = max;
	c->per_uid = per_uid;
	return c;
}

static void
challenge_path(const struct himds_challenge *c, const struct challenge_key *k,
    char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/%s.key", c->dir, k->name);
}

/* Forgets key i and removes its file. */
static void
challenge_retire(struct himds_challenge *c, int i)
{
	char	name[sizeof(c->keys[i].name) + 4];

	snprintf(name, sizeof(name), "%s.key", c->keys[i].name);
	unlinkat(c->dfd, name, 0);
	explicit_bzero(c->keys[i].secret, sizeof(c->keys[i].secret));
	memmove(&c->keys[i], &c->keys[i + 1], (c->n - i - 1) * sizeof(*c->keys));
	c->n--;
}

void
himds_challenge_free(struct himds_challenge *c)
{
	if (c == NULL)
		return;
	while (c->n > 0)
		challenge_retire(c, 0);
	close(c->dfd);
	free(c->keys);
	free(c->dir);
	free(c);
}

static int
challenge_random_hex(char *out, size_t nbytes)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 buf[64];
	size_t			 i;

	if (nbytes > sizeof(buf) || getrandom(buf, nbytes, 0) != (ssize_t)nbytes)
		return -1;
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 0xf];
	}
	out[2 * nbytes] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* Refused while the caller (or everyone) has its fill of live keys: a
 * flood never pushes out a key that a legitimate client is about to use. */
static int
challenge_full(struct himds_challenge *c, time_t now, uid_t uid,
    time_t *retry_after)
{
	int	i, mine = 0, oldest_mine = -1;

	himds_challenge_expire(c, now);
	for (i = 0; i < c->n; i++)
		if (c->keys[i].uid == uid && mine++ == 0)
			oldest_mine = i;
	if (mine >= c->per_uid)
		*retry_after = c->keys[oldest_mine].expires - now;
	else if (c->n >= c->max)
		*retry_after = c->keys[0].expires - now;
	else
		return 0;
	if (*retry_after < 1)
		*retry_after = 1;
	return 1;
}

int
himds_challenge_issue(struct himds_challenge *c, time_t now, uid_t uid,
    char *path, size_t pathlen, time_t *retry_after, char *err, size_t errlen)
{
	struct challenge_key	*k;
	char			 name[sizeof(k->name) + 4];

	if (challenge_full(c, now, uid, retry_after))
		return 1;
	k = &c->keys[c->n];
	if (challenge_random_hex(k->name, CHALLENGE_NAME_BYTES) == -1 ||
	    challenge_random_hex(k->secret, CHALLENGE_SECRET_BYTES) == -1) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	k->expires = now + c->lifetime;
	k->uid = uid;
	challenge_path(c, k, path, pathlen);
	snprintf(name, sizeof(name), "%s.key", k->name);
	/* tmpfs under the run dir: nothing to fsync. */
	if (atomicfile_writeat(c->dfd, name, k->secret, strlen(k->secret), 0640,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, ATOMICFILE_NOSYNC, err,
	    errlen) == -1)
		return -1;
	c->n++;
	return 0;
}

/* Compares in time independent of where the first difference is. */
static int
challenge_equal(const char *a, const char *b, size_t len)
{
	unsigned char	d = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

int
himds_challenge_redeem(struct himds_challenge *c, const char *secret, time_t now)
{
	int	i, found = -1;

	if (secret == NULL || strlen(secret) != CHALLENGE_SECRET_BYTES * 2)
		return -1;
	for (i = 0; i < c->n; i++)
		if (challenge_equal(c->keys[i].secret, secret,
		    CHALLENGE_SECRET_BYTES * 2))
			found = i;
	if (found == -1)
		return -1;
	if (now >= c->keys[found].expires) {
		challenge_retire(c, found);
		return -1;
	}
	challenge_retire(c, found);
	return 0;
}

int
himds_challenge_expire(struct himds_challenge *c, time_t now)
{
	int	i = 0, gone = 0;

	while (i < c->n) {
		if (now >= c->keys[i].expires) {
			challenge_retire(c, i);
			gone++;
		} else
			i++;
	}
	return gone;
}

int
himds_challenge_outstanding(const struct himds_challenge *c)
{
	return c->n;
}

int
himds_challenge_clean_dir(int dirfd, const char *dir, char *err,
    size_t errlen)
{
	DIR		*d;
	struct dirent	*e;
	size_t		 len;
	int		 dfd;

	if ((dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (d = fdopendir(dfd)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	rewinddir(d);	/* the duplicate shares the caller's offset */
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		/* Keys, and the temp files of keys being written. */
		if ((len > 4 && strcmp(e->d_name + len - 4, ".key") == 0) ||
		    strstr(e->d_name, ".key.tmp.") != NULL)
			unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
	return 0;
}
