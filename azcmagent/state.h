/* state.h -- the machine's local state as azcmagent sees it: identity files, machine.json and himds.json, the daemons' pid files, who may write. */
#ifndef STATE_H
#define STATE_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "defaults.h"

/* Names under the state dir: root's machine.json, and what himds rewrites
 * in its own subdirectory. */
#define STATE_HIMDS_DIR	ARC_SUBDIR_HIMDS
#define STATE_KEY	ARC_SUBDIR_HIMDS "/" ARC_FILE_MACHINE_KEY
#define STATE_CERT	ARC_SUBDIR_HIMDS "/" ARC_FILE_MACHINE_CRT
#define STATE_MACHINE	ARC_FILE_MACHINE_JSON
#define STATE_HIMDS	ARC_SUBDIR_HIMDS "/" ARC_FILE_HIMDS_JSON
#define STATE_ARCPROXY_DIR ARC_SUBDIR_ARCPROXY	/* arcproxy's: its access log */
#define STATE_KEY_GROUP	"arc"		/* may read machine.key, when root */
#define STATE_HIMDS_USER "himds"	/* owns <state>/himds, when root */

/* The daemons that read agent.conf and the identity, in the order they are told. */
extern const char *const state_daemons[];	/* ends with NULL */

/* Root, or (development mode) the owner of dir; -1 with err filled if not. */
int	state_may_write(const char *dir, const char *what, char *err,
	    size_t errlen);
#define STATE_LOCK_FILE	".azcmagent.lock"
/* An exclusive lock (flock) on <dir>/.azcmagent.lock, the writer's own 0600
 * file that no one else may open, so two writers take turns; -1 on error. */
int	state_lock(const char *dir, char *err, size_t errlen);
void	state_unlock(int fd);
/* Removes name.tmp.<pid>[.<random>] files that a killed writer left in dir. */
void	state_sweep_temps(const char *dir, const char *name);

/* The pid of prog when its pid file (in run_dir) names a live process of
 * that name, else -1. */
long	state_daemon_pid(const char *run_dir, const char *prog);
/* SIGHUPs every running daemon; names (", "-joined) of those told go in told. */
int	state_reload_daemons(const char *run_dir, char *told, size_t toldlen);

/* The directory that holds <state_dir>/<name> (name is "file" or
 * "sub/file"), *base pointing at the file's name in name.  A subdirectory
 * is opened O_NOFOLLOW; with create it is made when missing and, when
 * root, given to user himds and group arc on its fd.  -1 with err. */
int	state_dir_of(const char *state_dir, const char *name, int create,
	    const char **base, char *err, size_t errlen);

/* name in the state dir opened for reading, never through a symlink: a
 * regular file of one link (a FIFO would block, a link name another file);
 * -1 with err.  For a reader that takes a path: /proc/self/fd/N. */
int	state_open_file(const char *state_dir, const char *name, char *err,
	    size_t errlen);
/* The access log at path (arcproxy.conf's) opened for reading: in
 * <state>/arcproxy, arcproxy's folder, with no symlink followed anywhere
 * below it; elsewhere (root's choice) none at its name; a regular file of
 * one link either way (a FIFO never waited on).  -1 with err
 * "<path>: <why>", errno kept. */
int	state_open_log(const char *state_dir, const char *path, char *err,
	    size_t errlen);
/* <state_dir>/<name> as JSON (never through a symlink; a regular file of
 * one link, 1 MiB, as safedir_read()): 1 read, 0 absent, -1 unreadable
 * (err filled). */
int	state_json_load(const char *state_dir, const char *name, json_t **out,
	    char *err, size_t errlen);
/* Writes <state_dir>/<name> atomically with mode (temp file O_EXCL and
 * O_NOFOLLOW, owner and mode on its fd: when root, a file in himds's
 * subdirectory is himds's, group arc). */
int	state_write(const char *state_dir, const char *name, const char *data,
	    size_t len, int mode, char *err, size_t errlen);
/* machine.key: 0640, group STATE_KEY_GROUP when root and it exists, set
 * before a byte is written. */
int	state_write_key(const char *state_dir, const char *pem, size_t len,
	    char *err, size_t errlen);
/* Which identity files exist ("machine.json, machine.crt"), "" when none. */
void	state_identity_files(const char *state_dir, char *out, size_t len);
/* Removes machine.json, machine.crt and machine.key, in that order. */
int	state_identity_remove(const char *state_dir, char *err, size_t errlen);

/* "2026-11-29T07:04:37Z" */
void	state_rfc3339(time_t, char *buf, size_t len);
/* Its inverse (a "Z" or a numeric offset); -1 when it is not one. */
time_t	state_parse_rfc3339(const char *);

#endif
