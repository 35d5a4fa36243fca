/* challenge.c -- the token API's challenge keys: one random secret per file, readable by the himds group, single use, short-lived. */
#include <dirent.h>
#include <errno.h>
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
};

struct himds_challenge {
	char			*dir;
	int			 lifetime;	/* seconds a key lives */
	int			 max;		/* keys outstanding at most */
	int			 n;
	struct challenge_key	*keys;		/* oldest first */
};

struct himds_challenge *
himds_challenge_new(const char *dir, int lifetime, int max)
{
	struct himds_challenge	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->dir = strdup(dir)) == NULL ||
	    (c->keys = calloc(max, sizeof(*c->keys))) == NULL) {
		free(c->dir);
		free(c);
		return NULL;
	}
	c->lifetime = lifetime;
	c->max = max;
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
	char	path[PATH_MAX];

	challenge_path(c, &c->keys[i], path, sizeof(path));
	unlink(path);
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

int
himds_challenge_issue(struct himds_challenge *c, time_t now, char *path,
    size_t pathlen, char *err, size_t errlen)
{
	struct challenge_key	*k;

	if (c->n == c->max)
		challenge_retire(c, 0);
	k = &c->keys[c->n];
	if (challenge_random_hex(k->name, CHALLENGE_NAME_BYTES) == -1 ||
	    challenge_random_hex(k->secret, CHALLENGE_SECRET_BYTES) == -1) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	k->expires = now + c->lifetime;
	challenge_path(c, k, path, pathlen);
	if (atomicfile_write(path, k->secret, strlen(k->secret), 0640, err,
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
himds_challenge_clean_dir(const char *dir, char *err, size_t errlen)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[PATH_MAX];
	size_t		 len;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		/* Keys, and the temp files of keys being written. */
		if ((len > 4 && strcmp(e->d_name + len - 4, ".key") == 0) ||
		    strstr(e->d_name, ".key.tmp.") != NULL) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
	return 0;
}
