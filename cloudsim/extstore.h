/* extstore.h -- the extensions the operator wants on each machine, their reported status, the machines' settings certificates and goal-state numbers, kept in extensions.json. */
#ifndef EXTSTORE_H
#define EXTSTORE_H

#include <stddef.h>

#include <jansson.h>


struct extstore;

/*
 * The state, a JSON document kept as it is written:
 *   {"version": 1, "machines": {NAME: {"goalStateSeq": N,
 *     "settingsCertificate": PEM | null, "settingsThumbprint": HEX | null,
 *     "extensions": {EXT: {"name", "publisher", "type", "version",
 *       "desiredState": "present" | "absent", "sequenceNumber",
 *       "publicSettings": {}, "protectedSettings": {} | null,
 *       "package": {"url", "signatureUrl", "sha256", "size"},
 *       "status": {...} | null, "statusTime": RFC 3339 | null,
 *       "protectedSettingsCms"?: {"thumbprint", "sequenceNumber", "data"}
 *       (what the machine was last served)}}}}}
 * A machine's entry outlives its extensions (and the machine), so that its
 * goalStateSeq never goes back.
 */

/* Reads path (missing: empty); NULL with err naming the file and the problem. */
struct extstore	*extstore_load(const char *path, char *err, size_t errlen);
/* Writes the whole state atomically (0600: protected settings are in clear). */
int		 extstore_save(struct extstore *, char *err, size_t errlen);
void		 extstore_free(struct extstore *);

/* The machine's object (borrowed); with create, made when missing.  NULL
 * when missing (or out of memory). */
json_t		*extstore_machine(struct extstore *, const char *machine, int create);
/* The machine's extensions object (borrowed), never NULL for a machine object. */
json_t		*extstore_extensions(json_t *machine);
/* goalStateSeq + 1, stored and returned. */
unsigned long long extstore_bump(json_t *machine);
unsigned long long extstore_seq(json_t *machine);
/* A copy of the machine's object, and putting one back (a change undone
 * when it could not be saved). */
json_t		*extstore_snapshot(json_t *machine);
void		 extstore_restore(struct extstore *, const char *machine, json_t *snapshot);
/* The machine was deleted: its extensions and settings certificate go, its
 * goalStateSeq stays (and is bumped). */
void		 extstore_forget(struct extstore *, const char *machine);

#endif
