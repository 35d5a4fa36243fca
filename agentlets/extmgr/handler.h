/* handler.h -- the extension handler protocol, machine side: HandlerEnvironment.json, settings and certificates written, and one operation run as a killable process group on libevent. */
#ifndef HANDLER_H
#define HANDLER_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "manifest.h"

struct event_base;
struct handler_run;

#define HANDLER_ENV_FILE	"HandlerEnvironment.json"
#define HANDLER_LOG_FILE	"CommandExecution.log"	/* in the log folder */
#define HANDLER_LOG_MAX		(4 * 1024 * 1024)	/* cut beyond it */
#define HANDLER_LOG_KEEP	(1024 * 1024)		/* what a cut keeps: its end */
#define HANDLER_LOG_RUN_MAX_MIB	16	/* emptied during a run beyond it */
#define HANDLER_LOG_RUN_MAX	(HANDLER_LOG_RUN_MAX_MIB * 1024 * 1024)
#define HANDLER_OUTPUT_TAIL	3200	/* output characters kept for the report */
#define HANDLER_ERR_TIMEOUT	1011	/* PluginHandlerScriptTimedout */
/* The environment variable naming the directory of <THUMB>.crt/.prv. */
#define HANDLER_CERTS_ENV	"ARC_EXTENSION_CERTS_DIR"

/* Per-operation time limits in seconds, indexed by enum manifest_op. */
struct handler_limits {
	int	seconds[MANIFEST_OP_COUNT];
};
/* The VM agent's: install 900, enable 300, update 900, disable 900,
 * uninstall 300. */
void	handler_limits_default(struct handler_limits *);

/* Where an extension's handler looks.  All paths absolute. */
struct handler_paths {
	const char	*name;		/* "Publisher.Type" */
	const char	*version;	/* "1.0.0": the handler's version */
	const char	*ext_dir;	/* the extension dir, .../Publisher.Type-1.0.0 */
	const char	*log_dir;	/* its log folder (made 0700 by
					   handler_write_environment and
					   handler_start when missing; its
					   parent must exist) */
	const char	*certs_dir;	/* where <THUMB>.crt/.prv are: the
					   handler's $ARC_EXTENSION_CERTS_DIR */
};

/* What the handler's environment points at; NULL members take the
 * defaults, "" leaves that variable out. */
struct handler_endpoints {
	const char	*proxy_url;	/* HTTPS_PROXY, HTTP_PROXY, https_proxy,
					   http_proxy; http://127.0.0.1:40343 */
	const char	*no_proxy;	/* NO_PROXY, no_proxy; localhost,127.0.0.1,::1 */
	const char	*imds;		/* IMDS_ENDPOINT; http://localhost:40342 */
	const char	*identity;	/* IDENTITY_ENDPOINT; http://localhost:40342
					   /metadata/identity/oauth2/token */
};

/*
 * Writes HandlerEnvironment.json in extdirfd (atomically, 0644):
 * [{"name","version":1.0,"handlerEnvironment":{"logFolder","configFolder",
 * "statusFolder","heartbeatFile"}}] with configFolder <ext_dir>/config,
 * statusFolder <ext_dir>/status, heartbeatFile <ext_dir>/heartbeat.log;
 * makes config/ and status/ (0700, owner the caller's; an existing one
 * gets that mode; a symlink planted there is refused, never followed) and
 * the log folder.  0, or -1 with err filled.
 */
int	handler_write_environment(int extdirfd, const struct handler_paths *,
	    char *err, size_t errlen);

/*
 * Writes config/<seq>.settings in extdirfd (atomically, 0600, config/
 * opened O_NOFOLLOW): {"runtimeSettings":[{"handlerSettings":{
 * "publicSettings": public_settings (NULL: {}), "protectedSettings":
 * protected_b64, "protectedSettingsCertThumbprint": thumbprint}}]}, the
 * last two only when protected_b64 is not NULL (then thumbprint must be
 * given).  seq >= 0.  Then, of config/<n>.settings and the handler's
 * status/<n>.status, only seq's and the HANDLER_SETTINGS_KEEP highest
 * others stay (removed with unlinkat: a symlink is not followed; a
 * symlinked status/ is left alone).  0, or -1 with err filled.
 */
#define HANDLER_SETTINGS_KEEP	8	/* earlier <n>.settings/.status kept */

int	handler_write_settings(int extdirfd, long seq, json_t *public_settings,
	    const char *protected_b64, const char *thumbprint, char *err,
	    size_t errlen);

/*
 * The certificates directory at path, opened O_DIRECTORY|O_NOFOLLOW; made
 * 0700 when missing (its parent must exist).  The fd, or -1 with err.
 */
int	handler_certs_dir_open(const char *path, char *err, size_t errlen);

/*
 * Places the settings certificate (PEM) and its private key (PEM) as
 * <THUMB>.crt and <THUMB>.prv in certsdirfd, atomically, mode 0600, where
 * a handler decrypts protectedSettings with `openssl cms -decrypt -inform
 * DER -recip $ARC_EXTENSION_CERTS_DIR/<THUMB>.crt -inkey
 * $ARC_EXTENSION_CERTS_DIR/<THUMB>.prv`.  The VM agent's handlers read
 * /var/lib/waagent/<THUMB>.crt: for those, configure the certs dir as
 * /var/lib/waagent.  thumbprint is 40 uppercase hex digits (SHA-1 of the
 * DER certificate).  Files already equal are left alone.  0, or -1 with
 * err filled.
 */
int	handler_place_certificate(int certsdirfd, const char *thumbprint,
	    const char *cert_pem, size_t cert_len, const char *key_pem,
	    size_t key_len, char *err, size_t errlen);

/*
 * The VM agent's ExtHandlerInstance.initialize, after unpacking: every
 * regular file under the extension directory extdirfd gets S_IXUSR (a zip
 * made on Windows has no mode bits, and its install.sh would fail with
 * 126).  Each name is opened from its directory's fd with O_NOFOLLOW: a
 * symlink is neither changed nor followed, nor is anything but a file or
 * a directory.  0, or -1 with err naming the file.
 */
int	handler_make_executable(int extdirfd, char *err, size_t errlen);

/*
 * At the start of a pass (one pass at a time: no run of ours is under way),
 * every record in runsfd is a run whose extmgr died while its shell ran
 * (SIGKILL, a crash): what it left is killed with prockill_leftover (the
 * group only while its leader is still the same process, by /proc start
 * time; otherwise what carries the run's mark) and the record removed.
 * said gets a line for each.  The number killed, or -1.
 */
int	handler_kill_leftovers(int runsfd, void (*said)(const char *, void *),
	    void *arg);

/*
 * The upgrade's "copy status" step (the VM agent's copy_status_files),
 * before the new version's update: the old version's mrseq (the most
 * recent sequence number HandlerUtil ran) and every regular file of its
 * status/ (each at most 128 KB, never through a symlink: others are
 * skipped) written into the new version's directory and status/ (made
 * 0700), atomically, 0600 (a symlink planted at a name there is replaced,
 * not followed).  No old mrseq or status/ is not an error.  0, or -1 with
 * err filled.
 */
#define HANDLER_MRSEQ_FILE	"mrseq"

int	handler_copy_status(int old_extdirfd, int new_extdirfd, char *err,
	    size_t errlen);

/*
 * Is dir on a filesystem mounted noexec (statvfs ST_NOEXEC)?  0 when
 * handlers can run there; -1 with err ("<dir> is on a filesystem mounted
 * noexec: extension handlers cannot run from it (remount it exec, or
 * move the state dir)") or the statvfs error.
 */
int	handler_check_exec(const char *dir, char *err, size_t errlen);

/* One operation to run. */
struct handler_job {
	enum manifest_op	 op;
	const char		*command;	/* the manifest's command for op */
	const struct handler_paths *paths;
	const struct handler_endpoints *endpoints; /* NULL: the defaults */
	long			 seq;		/* ConfigSequenceNumber (>= 0) */
	const char		*updating_from;	/* update: AZURE_GUEST_AGENT_UPDATING_
						   FROM_VERSION (the old version; in
						   a downgrade the VM agent gives the
						   lower one, updated to) */
	const char		*update_version; /* update: VERSION, the version
						   updated to; NULL: paths->version */
	int			 timeout_seconds; /* > 0 */
	const char *const	*extra_env;	/* "NAME=value", NULL-terminated,
						   or NULL (e.g. AZURE_GUEST_AGENT_
						   DISABLE_CMD_EXIT_CODE) */
	const char		*runs_dir;	/* NULL, or a root-only directory:
						   the run's record there, named
						   paths->name, while the shell
						   runs (handler_kill_leftovers) */
};

/* How it ended.  Pointers are valid during the callback only. */
struct handler_result {
	enum manifest_op op;
	pid_t		 pid;		/* the process group it ran as */
	int		 exited;	/* 1: exit_status is the shell's exit */
	int		 exit_status;
	int		 term_signal;	/* killed by this signal (not a timeout) */
	int		 timed_out;	/* 1: killed at its time limit */
	int		 timeout_seconds;
	long		 duration_ms;
	int		 code;		/* 0 success; 1011 timeout; else the op's
					   manifest_op_error_code() */
	const char	*message;	/* "exit 0", "exit 3", "killed by signal 9",
					   "Timeout(300)", "exit 126: ... noexec" */
	const char	*output;	/* the last HANDLER_OUTPUT_TAIL bytes of
					   stdout and stderr, interleaved, as
					   valid UTF-8 without NUL ('?' for a
					   bad byte), NUL-terminated */
	size_t		 output_len;
};

typedef void	(*handler_done_cb)(const struct handler_result *, void *arg);

/*
 * Runs job->command for job->op: fork; the child gets its own session and
 * process group (setsid), its working directory ext_dir, stdin /dev/null,
 * stdout and stderr appended to <log_dir>/CommandExecution.log (0600,
 * opened O_NOFOLLOW; cut to its end first when past HANDLER_LOG_MAX
 * (handler_log_trim), and checked every second while the shell runs:
 * emptied past HANDLER_LOG_RUN_MAX, so that no handler fills the disk),
 * every other fd closed (close_range), default signal dispositions and an
 * empty signal mask, and runs `/bin/sh -c COMMAND` with a clean environment: PATH,
 * HOME, LANG=C.UTF-8, the proxy and identity variables of endpoints,
 * ConfigSequenceNumber, AZURE_GUEST_AGENT_EXTENSION_PATH,
 * AZURE_GUEST_AGENT_EXTENSION_VERSION (paths->version, the running handler's),
 * AZURE_GUEST_AGENT_UPDATING_FROM_VERSION and VERSION (update: updating_from
 * and update_version), ARC_EXTENSION_CERTS_DIR, then extra_env.
 *
 * COMMAND is the manifest's, as the VM agent runs it: when its first word
 * (leading slashes removed) names a file in the extension dir, that word
 * is made absolute under ext_dir ("scripts/install.sh -x" runs
 * '<ext_dir>'/scripts/install.sh -x, "install.sh" runs the package's);
 * otherwise it is run as written ("sh ./enable.sh").
 *
 * The output goes to a file, not a pipe: a daemon that an enable starts
 * without redirecting its output keeps writing to the log, and is not
 * killed by SIGPIPE when extmgr restarts.  The result's output is the
 * log's tail from this run's start, read when the shell exits.
 *
 * When the shell exits (the pidfd turns readable), cb gets the result
 * once, from the loop (never from inside handler_start); the run is freed
 * after cb returns.  Processes the shell left behind in the group keep
 * running (an enable may start a daemon).  At the time limit the whole process group gets SIGKILL and
 * so does every process of the run's session, or whose environment holds
 * the run's ARC_EXTMGR_RUN=<random> (a daemon that called setsid or forked
 * twice: /proc is swept until nothing is left; no cgroup v2 is assumed), and
 * the result is timed_out, code 1011, "Timeout(N)".  The child is watched
 * with a pidfd: extmgr must not reap with waitpid(-1), nor set SIGCHLD to
 * SIG_IGN (the kernel would reap it first).
 *
 * Returns the run, or NULL with err filled (nothing started, cb never
 * called).
 */
struct handler_run *handler_start(struct event_base *,
	    const struct handler_job *, handler_done_cb cb, void *arg,
	    char *err, size_t errlen);
/* Kills the run's processes as at a time limit, reaps the shell and frees the
 * run; cb is not called.  NULL is a no-op.  Not from inside cb.  Every
 * live run is ended (cb or cancel) before its event_base is freed. */
void	handler_cancel(struct handler_run *);
/* The process group id of a live run. */
pid_t	handler_pid(const struct handler_run *);
/*
 * <logdir>/CommandExecution.log (logdirfd; a regular file with one link,
 * opened O_NOFOLLOW) cut in place when longer than max: a line saying so,
 * then its last HANDLER_LOG_KEEP bytes from the first whole line.  Safe
 * under writers that still have it open, as they write with O_APPEND (the
 * handlers' output, a daemon an enable left behind): they go on at the new
 * end; what they append while it is cut is lost.  Returns the bytes
 * removed (0: no log, or not past max), or -1 with err.
 */
off_t	handler_log_trim(int logdirfd, off_t max, char *err, size_t errlen);

#endif
