/* privdrop.c -- a daemon started as root becomes its own user (himds, arcnotify) and keeps no capability. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "privdrop.h"

int
privdrop_lookup(const char *name, struct privdrop_user *u, char *err,
    size_t errlen)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		snprintf(err, errlen, "started as root, but there is no user '%s' "
		    "to run as (create it: useradd --system --no-create-home %s)",
		    name, name);
		return -1;
	}
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return 0;
}

int
privdrop_become(const struct privdrop_user *u, char *err, size_t errlen)
{
	/* Without PR_SET_KEEPCAPS, setuid() away from root clears the
	 * permitted and effective sets: arcproxy is told of a renewal through
	 * its admin API, not with a signal. */
	if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) == -1 ||
	    initgroups(u->name, u->gid) == -1 || setgid(u->gid) == -1 ||
	    setuid(u->uid) == -1) {
		snprintf(err, errlen, "cannot become user %s: %s", u->name,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) != -1) {
		snprintf(err, errlen, "still able to become root after dropping "
		    "to %s", u->name);
		return -1;
	}
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer stops the process's threads with ptrace, which a
	 * process that changed its uid may not do unless it is dumpable. */
	prctl(PR_SET_DUMPABLE, 1L, 0L, 0L, 0L);
#endif
	return 0;
}
