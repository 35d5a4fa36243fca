/* privdrop.h -- a daemon started as root becomes its own user (himds, arcnotify) and keeps no capability. */
#ifndef PRIVDROP_H
#define PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

struct privdrop_user {
	char	name[64];
	uid_t	uid;
	gid_t	gid;		/* its primary group: the token keys' group */
};

/* -1 with err naming the fix when there is no such user. */
int	privdrop_lookup(const char *name, struct privdrop_user *, char *err,
	    size_t errlen);
/* Takes the user's groups (/etc/group too), gid and uid, and keeps no
 * capability (arcproxy hears of a renewal through its admin API). */
int	privdrop_become(const struct privdrop_user *, char *err, size_t errlen);

#endif
