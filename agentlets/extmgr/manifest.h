/* manifest.h -- the handler protocol's JSON that a package and its handler write: HandlerManifest.json, status/<seq>.status and the heartbeat file, read without following a symlink. */
#ifndef MANIFEST_H
#define MANIFEST_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

/* The VM agent's error codes (ExtensionErrorCodes) that these files give. */
#define MANIFEST_ERR_MISSING	1002	/* no readable HandlerManifest.json */
#define MANIFEST_ERR_INVALID	1003	/* not JSON, or not the manifest's shape */
#define MANIFEST_ERR_STATUS	1012	/* a status file the handler wrote badly */

#define MANIFEST_MAX_BYTES	(64 * 1024)	/* HandlerManifest.json */
#define MANIFEST_STATUS_MAX_BYTES (128 * 1024)	/* status/<seq>.status */
#define MANIFEST_STATUS_MAX_MESSAGE 1024	/* formattedMessage.message kept */
#define MANIFEST_SUBSTATUS_MAX	32	/* entries a report carries (the cloud's limit) */
#define MANIFEST_HEARTBEAT_MAX_BYTES (16 * 1024)
#define MANIFEST_HEARTBEAT_STALE 600	/* seconds: older is "unresponsive" (the
					   VM agent's); extmgr.conf's
					   heartbeat_stale_seconds */

/* The five operations of the protocol; also handler.h's operations. */
enum manifest_op {
	MANIFEST_OP_INSTALL,
	MANIFEST_OP_ENABLE,
	MANIFEST_OP_UPDATE,
	MANIFEST_OP_DISABLE,
	MANIFEST_OP_UNINSTALL,
	MANIFEST_OP_COUNT
};

enum manifest_update_mode {
	MANIFEST_UPDATE_WITH_INSTALL,	/* "UpdateWithInstall": the default */
	MANIFEST_UPDATE_WITHOUT_INSTALL	/* "UpdateWithoutInstall" */
};

/*
 * Element 0's handlerManifest.  The five commands are required non-empty
 * strings (the VM agent fails on a missing one when it comes to run it; we
 * refuse the package before anything runs).  The booleans take true/false
 * or, as the VM agent allows, the string "true" in any case; anything else
 * is false.  updateMode is matched without case.
 */
struct manifest {
	char	*command[MANIFEST_OP_COUNT];	/* indexed by enum manifest_op */
	int	 report_heartbeat;		/* reportHeartbeat */
	int	 continue_on_update_failure;	/* continueOnUpdateFailure */
	int	 supports_multiple_extensions;	/* supportsMultipleExtensions */
	enum manifest_update_mode update_mode;	/* updateMode */
	char	*name;				/* element 0's "name", or NULL */
	char	*version;			/* element 0's "version", or NULL */
};

/*
 * Reads HandlerManifest.json in the extension directory extdirfd
 * (openat O_NOFOLLOW, a regular file of at most MANIFEST_MAX_BYTES).
 * Returns 0 with *out set (free with manifest_free), or an error code with
 * err filled: MANIFEST_ERR_MISSING when the file is absent, unreadable, a
 * symlink or not a regular file; MANIFEST_ERR_INVALID when it is too big,
 * not JSON or not the manifest's shape (err names the key, e.g.
 * "HandlerManifest.json: [0].handlerManifest.enableCommand: not a string").
 */
int	 manifest_load(int extdirfd, struct manifest **out, char *err,
	    size_t errlen);
/* The same on a buffer: 0, or MANIFEST_ERR_INVALID with err filled. */
int	 manifest_parse(const char *buf, size_t len, struct manifest **out,
	    char *err, size_t errlen);
void	 manifest_free(struct manifest *);

/* "install", "enable", "update", "disable", "uninstall" (the VM agent's
 * cmd_name); NULL out of range. */
const char	*manifest_op_name(enum manifest_op);
/* "Install", "Enable", ...: the operation as the status report names it. */
const char	*manifest_op_report_name(enum manifest_op);
/* The failure code the VM agent gives when that operation fails: 1007
 * install, 1009 enable, 1008 update, 1010 disable, 1000 uninstall (it has
 * no code of its own: PluginProcessingError). */
int		 manifest_op_error_code(enum manifest_op);

/* status/<seq>.status's first element, as the VM agent reads it. */
struct manifest_status {
	char	 status[16];	/* "transitioning", "warning", "error", "success" */
	int	 code;		/* status.code (0 when absent; an integer or,
				   as HandlerUtil writes it, a string "0")
				   or ours on error */
	char	*operation;	/* status.operation, or NULL */
	char	*name;		/* status.name, or NULL */
	char	*message;	/* formattedMessage.message cut to 1 KB, or ours */
	char	*timestamp;	/* timestampUTC, or NULL */
	json_t	*substatus;	/* status.substatus, an array (maybe empty) */
	int	 from_handler;	/* 1: the handler's file; 0: ours (missing/bad) */
};

/*
 * Reads status/<seq>.status under extdirfd (status/ and the file opened
 * O_NOFOLLOW, at most MANIFEST_STATUS_MAX_BYTES).  Always fills *out
 * (free with manifest_status_free) unless memory runs out (-1):
 *  - no status/ or no file yet: "transitioning", code 0, from_handler 0,
 *    message "no status file status/<seq>.status yet";
 *  - a symlink, a non-regular file, too big, not JSON, or the wrong
 *    shape: "error", code MANIFEST_ERR_STATUS, from_handler 0, message
 *    naming the file and the reason;
 *  - otherwise the handler's values (an unknown status value is "error",
 *    as the VM agent makes it), from_handler 1.
 * Returns 0, or -1 on memory exhaustion.
 */
int	 manifest_status_read(int extdirfd, long seq,
	    struct manifest_status **out);
/* The same on a buffer: 0 with *out the handler's status, or
 * MANIFEST_ERR_STATUS with *out an "error" status whose message (and
 * err) says why; -1 when memory runs out. */
int	 manifest_status_parse(const char *buf, size_t len,
	    struct manifest_status **out, char *err, size_t errlen);
void	 manifest_status_free(struct manifest_status *);

/* The heartbeat file's meaning (reportHeartbeat handlers). */
struct manifest_heartbeat {
	char	 status[24];	/* its status ("ready", ...), or "Unresponsive",
				   or "error" when missing or malformed */
	int	 code;		/* its code, -1 unresponsive, 1012 malformed */
	char	*message;	/* formattedMessage.message (1 KB) or ours */
	int	 responsive;	/* 1: written within the stale limit */
};

/*
 * Reads the heartbeat file heartbeat.log in extdirfd (O_NOFOLLOW, at most
 * MANIFEST_HEARTBEAT_MAX_BYTES): `[{"version":1.0,"heartbeat":{"status",
 * "code","formattedMessage":{"lang","message"}}}]`.  Its mtime more than
 * stale_seconds (MANIFEST_HEARTBEAT_STALE, unless extmgr.conf says
 * otherwise) before now is "Unresponsive" (code -1, "Extension heartbeat
 * is not responsive"), as the VM agent says; missing or malformed is
 * "error" with a message saying which.  Returns 0 with *out filled, -1
 * when memory runs out.
 */
int	 manifest_heartbeat_read(int extdirfd, time_t now, long stale_seconds,
	    struct manifest_heartbeat **out);
/* The file's contents only (no age check): 0, or MANIFEST_ERR_STATUS with
 * err filled and *out an "error" heartbeat; -1 on memory exhaustion. */
int	 manifest_heartbeat_parse(const char *buf, size_t len,
	    struct manifest_heartbeat **out, char *err, size_t errlen);
void	 manifest_heartbeat_free(struct manifest_heartbeat *);

#define MANIFEST_HEARTBEAT_FILE	"heartbeat.log"	/* in the extension dir */
#define MANIFEST_FILE		"HandlerManifest.json"

#endif
