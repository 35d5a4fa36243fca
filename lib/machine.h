/* machine.h -- the machine's identity in the state dir (machine.json, .crt, .key), read, checked, and replaced whole on renewal; himds owns it, guestconfig, arcnotify and extmgr read it. */
#ifndef MACHINE_H
#define MACHINE_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "defaults.h"

/* <state>/himds: what himds rewrites (machine.key, machine.crt, himds.json). */
#define HIMDS_OWN_DIR	ARC_SUBDIR_HIMDS

struct himds_machine {
	json_t		*doc;		/* machine.json as read */
	const char	*name;		/* resource.name, the certificate's CN */
	const char	*resource_id;	/* resource.resourceId */
	char		*cloud_url;	/* "https://host[:port]", no trailing '/' */
	char		*ca_file;	/* trust for cloud_url, absolute */
	char		*cert_file;	/* <state>/himds/machine.crt */
	char		*key_file;	/* <state>/himds/machine.key */
	/* Both as read, never through a symlink, a regular file of one link
	 * each: himds's data.  Root's readers (guestconfig) use these, never
	 * the paths, which himds can point anywhere. */
	char		*cert_pem;
	size_t		 cert_len;
	char		*key_pem;	/* zeroed when freed */
	size_t		 key_len;
	long long	 heartbeat_interval_seconds; /* 0: machine.json has none */
	time_t		 not_before;	/* of machine.crt */
	time_t		 not_after;
};

/* 0 with *out set; 1 when there is no identity (no machine.json: not
 * connected); -1 with err filled when the identity is there but broken.
 * machine.json is read in the state dir, machine.crt and machine.key in
 * <state>/himds, each opened without following a symlink (nor the folder
 * himds, if a symlink), a regular file of one link and at most 1 MiB:
 * "<state>/himds/machine.key: a symbolic link, not followed". */
int	himds_machine_load(const char *state_dir, struct himds_machine **out,
	    char *err, size_t errlen);
/* machine.json alone, checked as himds_machine_load() checks it (its caFile
 * too): cert_pem and key_pem stay NULL, for a reader that takes the pair
 * for each call itself (extmgr). */
int	himds_machine_read_json(const char *state_dir,
	    struct himds_machine **out, char *err, size_t errlen);
void	himds_machine_free(struct himds_machine *);
/* Does name fit the control plane's rule, [A-Za-z0-9][A-Za-z0-9-_.]{0,62}? */
int	himds_machine_name_ok(const char *name);

/* Puts a renewed key and certificate in place in dir (<state>/himds):
 * both are written beside the old ones (machine.key keeps its group, set
 * on the fd while the file is still 0600, then mode 0640), then renamed
 * over them, key first.  himds_machine_recover() finishes the job after
 * a crash between the renames. */
int	himds_machine_install(const char *dir, const char *key_pem,
	    size_t key_len, const char *cert_pem, size_t cert_len, char *err,
	    size_t errlen);
/* 1 when an interrupted install was completed, 0 when there was none
 * (leftovers of one that never reached its renames are removed), -1 on
 * error. */
int	himds_machine_recover(const char *dir, char *err, size_t errlen);

#endif
