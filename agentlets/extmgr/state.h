/* state.h -- extmgr's record of what is installed (<state>/extmgr/state.json): versions, sequence numbers, handler states, the step under way, the last report; written whole and atomically. */
#ifndef EXTMGR_STATE_H
#define EXTMGR_STATE_H

#include <stddef.h>

#include <jansson.h>

#define STATE_FILE	"state.json"
#define STATE_MAX_BYTES	(4 * 1024 * 1024)

/*
 * The document: {"settingsThumbprint": "...", "settingsRegistered": bool,
 * "extensions": {NAME: record}}, a record being
 *   "publisher", "type": of the extension
 *   "version": the installed version (its directory is unpacked), or null
 *   "handlerState": "NotInstalled" | "Installed" | "Enabled" | "FailedUpgrade"
 *   "seq": the sequence number last enabled, -1 none
 *   "step": the operation under way, "" none ("Install", "Enable",
 *	"Upgrade", "Remove"): what a restart resumes
 *   "upgradeFrom", "upgradeTo", "upgradeStep": an upgrade under way
 *   "failedSeq", "failedVersion": a goal that failed (not retried until the
 *	cloud sends another sequence number)
 *   "removedSeq": removed locally (azcmagent extension remove) at that
 *	goal sequence number: not reinstalled until it changes
 *   "report": the last report {"sequenceNumber","version","operation",
 *	"status","code","message","handlerState","substatus"?,"sent": bool,
 *	"time"}
 * azcmagent reads it (extension list).
 */
struct extmgr_state {
	int	 dirfd;		/* <state>/extmgr, not owned */
	json_t	*doc;
};

/* Loads state.json from dirfd; a missing file is an empty state.  A
 * broken one is kept aside as state.json.bad and an empty state begins. */
int	 state_load(struct extmgr_state *, int dirfd, char *err, size_t errlen);
int	 state_save(struct extmgr_state *, char *err, size_t errlen);
void	 state_clear(struct extmgr_state *);

json_t	*state_exts(struct extmgr_state *);
/* The record of name, or NULL; state_ext_make adds an empty one. */
json_t	*state_ext(struct extmgr_state *, const char *name);
json_t	*state_ext_make(struct extmgr_state *, const char *name,
	    const char *publisher, const char *type);
void	 state_ext_remove(struct extmgr_state *, const char *name);

/* Getters that tolerate a missing key. */
const char *state_str(json_t *rec, const char *key);
long long  state_int(json_t *rec, const char *key, long long def);
/* Setters (NULL value: JSON null). */
void	 state_set_str(json_t *rec, const char *key, const char *value);
void	 state_set_int(json_t *rec, const char *key, long long value);

#endif
