/* engine.h -- guestconfig's evaluation engine: a configuration document parsed, then each resource tested, set and reported. */
#ifndef GC_ENGINE_H
#define GC_ENGINE_H

#include <stddef.h>
#include <jansson.h>

/*
 * The configuration document (JSON; config-document.schema.json describes it):
 *
 *   {"schemaVersion": 1, "name": "sshd", "resources": [
 *     {"id": "sshd_config", "type": "file",
 *      "properties": {"path": "/etc/ssh/sshd_config", "mode": "0600", "owner": "root"}},
 *     {"id": "no_root_login", "type": "file_line",
 *      "properties": {"path": "/etc/ssh/sshd_config", "regex": "^PermitRootLogin[[:space:]]",
 *                     "line": "PermitRootLogin no"},
 *      "audit": {"anyOf": [{"type": "package", "properties": {"name": "openssh-server"}},
 *                          {"not": {"type": "file", "properties": {"path": "/etc/ssh/sshd_config",
 *                                                                  "ensure": "absent"}}}]}}]}
 *
 * Resource types (properties; all paths absolute, never through a symlink
 * that a user other than root owns; ensure defaults to present):
 *   file           path, ensure present|absent, content (exact text) | sha256 (hex),
 *                  owner (name or uid), group (name or gid), mode ("0600"); set
 *                  creates a missing file (empty without content; never when
 *                  only its sha256 is known), 0644 root:root unless given;
 *                  absent removes a symlink at path itself, never its target
 *   file_line      path, regex (POSIX extended), ensure present|absent, line (the
 *                  text every matching line must be; written in place of them, or
 *                  appended when none matches; without it present is audit only)
 *   directory      path, ensure, owner, group, mode
 *   sysctl         name ("net.ipv4.ip_forward"), value (compared with runs of
 *                  blanks as one space); set by writing <sysctl_root>/net/ipv4/ip_forward
 *   user           name, ensure, uid, shell; set by exec of useradd/usermod/userdel
 *                  (-R <accounts_root> unless it is "/"), no shell
 *   group          name, ensure, gid; set by groupadd/groupmod/groupdel the same way
 *   package        name, ensure installed|absent, version; read from dpkg's status
 *                  file; audit only (set reports GC::PACKAGE::NOTSUPPORTED)
 *   command_output argv (argv[0] an absolute path; exec'd without a shell, empty
 *                  environment but PATH, LC_ALL and a run mark), regex, ensure
 *                  match|nomatch, exitCode, timeoutMs (at which its group, its
 *                  session and what carries its mark are killed: lib/prockill);
 *                  audit only
 * A resource may omit type and properties when it has an audit condition.
 *
 * audit: a condition that must also hold for the resource to be Compliant.
 * It is {"allOf": [C...]}, {"anyOf": [C...]}, {"not": C} or a check
 * {"type": T, "properties": {...}} of any type above.  Checks in a condition
 * are only ever tested, never set.  A failing condition adds
 * GC::AUDIT::CONDITION, then the reasons of the checks that decided it
 * (for allOf the failing ones, for anyOf that holds the holding ones); a
 * not reports its check's reasons as GC::AUDIT::NOT ("found, expected
 * not: ...") or GC::AUDIT::COMPLIANT ("as wanted, not so: ...").
 *
 * Parameters: configurationParameter is the assignment's array of
 * {"name": "[type]id;property", "value": "text"}.  Each replaces (or adds)
 * property `property` of the resource `id` whose type is `type`, before the
 * resource is checked; the text becomes a number or a boolean when the
 * document's own value of that property is one.
 */

struct gc_doc;

/*
 * Parses a configuration document and applies configurationParameter
 * (NULL or a JSON array).  Returns NULL with err filled only when nothing
 * in it can be evaluated: not JSON, not an object, schemaVersion not 1, no
 * name or resources array, more than GC_DOC_MAX_RESOURCES, a duplicate
 * resource id, or a parameter that is malformed or names no resource.  A
 * resource that is bad by itself (unknown type, bad or missing property,
 * bad regex) is kept and reported NonCompliant with its reason, and the
 * others are still evaluated.
 */
#define GC_DOC_MAX_RESOURCES	1000
#define GC_DOC_MAX_SIZE		(4 * 1024 * 1024)
struct gc_doc	*gc_doc_parse(const char *json, size_t len,
		    const json_t *configurationParameter, char *err, size_t errlen);
void		 gc_doc_free(struct gc_doc *);
const char	*gc_doc_name(const struct gc_doc *);
size_t		 gc_doc_count(const struct gc_doc *);
/* How many resources are bad by themselves (they fail alone). */
size_t		 gc_doc_invalid(const struct gc_doc *);

/* What one evaluation may do and where it reads; zero it, then set. */
struct gc_ctx {
	int		 apply;		/* 0 audit: nothing is written, nothing exec'd but command_output */
	int		 backupfd;	/* dir (<state>/guestconfig/backup) for each changed file's previous content; -1 none */
	int		 changelogfd;	/* O_APPEND fd: one line per change; -1 none */
	int		 command_timeout_ms; /* ceiling for command_output (its timeoutMs may lower it); 0: 10 s */
	const char	*assignment;	/* for backups and change-log lines; NULL "-" */
	const char	*sysctl_root;	/* NULL: /proc/sys */
	const char	*accounts_root;	/* dir holding etc/passwd, etc/group; NULL: "/" */
	const char	*dpkg_status;	/* NULL: /var/lib/dpkg/status */
	int		 nosync;	/* tests on tmpfs: no fsync of rewritten files */
	/* Asked before each resource and before each Set: non-zero stops the
	 * evaluation there (the local kill switch turned on meanwhile); the
	 * result then has "stopped": true.  NULL: never. */
	int		(*stop)(void *);
	void		*stop_arg;
};

/*
 * Evaluates every resource of doc in order: Test; Set when ctx->apply and
 * the Test failed (and the type can set); then Get (Test again) for the
 * report.  Blocks for at most the sum of the command_output time limits
 * plus file I/O.  Returns a new object (NULL only when out of memory):
 *
 *   {"complianceStatus": "Compliant"|"NonCompliant",      (after Set)
 *    "testComplianceStatus": "Compliant"|"NonCompliant",  (before Set)
 *    "changed": 2,                                         (changes made)
 *    "resources": [{"complianceStatus": ...,
 *                   "reasons": [{"code": "GC::FILE::MODE",
 *                                "phrase": "/etc/x: mode is 0644, expected 0600"}],
 *                   "properties": {"ResourceId": "[file]sshd_config"},
 *                   "changes": ["/etc/x: mode 0644 -> 0600"]}]}     (only when Set ran)
 *
 * The reasons are the Get's; when a change was made they are the Test's
 * (what was found before), GC::RESOURCE::APPLIED, then the Get's (what is
 * there now).  A
 * Compliant check says what it found, code GC::<TYPE>::COMPLIANT.  A
 * resource bad by itself is NonCompliant with GC::RESOURCE::INVALID (or
 * GC::RESOURCE::UNKNOWNTYPE).  ResourceId is "[type]id" as in the
 * parameters.  The engine never logs; it never changes the process's
 * signal handlers or cwd, and forks only for command_output and the
 * account tools, waiting for each child by its pid: SIGCHLD must not be
 * SIG_IGN, and nothing else may waitpid(-1) while gc_evaluate() runs.  It
 * keeps no state between calls (getpwnam_r, gmtime_r): one thread may
 * evaluate while another runs the event loop.
 */
json_t		*gc_evaluate(struct gc_doc *, const struct gc_ctx *);

#endif
