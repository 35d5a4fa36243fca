/* azcmagent.h -- the operator's command line: its context, exit codes, options and subcommands. */
#ifndef AZCMAGENT_H
#define AZCMAGENT_H

#include <stddef.h>

#include <jansson.h>

#include "args.h"
#include "defaults.h"
#include "probe.h"
#include "proxyinfo.h"
#include "version.h"

#define AZCM_VERSION		ARC_AGENT_VERSION
#define AZCM_DEFAULT_PROXY	ARC_URL_PROXY
#define AZCM_DEFAULT_HIMDS	ARC_URL_HIMDS
#define AZCM_URL_MAX		300

/* The Azure agent's AZCM numbers, where one fits. */
enum azcm_exit {
	AZCM_OK = 0,
	AZCM_EGENERIC = 1,
	AZCM_ENOPROXY = 4,		/* arcproxy is not running */
	AZCM_ENOTADMIN = 18,		/* writing needs root (or the owner, in development) */
	AZCM_EARGS = 23,		/* a bad or missing argument */
	AZCM_ENETWORK = 26,		/* the cloud or the gateway cannot be reached */
	AZCM_ECONFLICT = 27,		/* settings that contradict each other */
	AZCM_ECREDENTIALS = 41,		/* the onboarding token or the certificate was refused */
	AZCM_ECREATE = 42,		/* the cloud did not create the resource */
	AZCM_EDELETE = 43,		/* the cloud did not delete the resource */
	AZCM_EEXISTS = 44,		/* a resource of that name exists in the cloud */
	AZCM_ECONNECTED = 67,		/* this machine already has an identity */
};

/* Every option of every subcommand; args_parse() indexes by these. */
enum azcm_opt {
	AZCM_O_CONFIG_DIR,
	AZCM_O_STATE_DIR,
	AZCM_O_RUN_DIR,
	AZCM_O_JSON,
	AZCM_O_PROXY,
	AZCM_O_HIMDS,
	AZCM_O_HELP,
	AZCM_O_CLOUD_URL,
	AZCM_O_GATEWAY_URL,
	AZCM_O_CA_FILE,
	AZCM_O_TOKEN_FILE,
	AZCM_O_NAME,
	AZCM_O_LOCATION,
	AZCM_O_TAGS,
	AZCM_O_FORCE_LOCAL,
	AZCM_O_ADD,
	AZCM_O_REMOVE,
	AZCM_O_OUTPUT,
	AZCM_O_VERBOSE,
	AZCM_O_NO_COLOR,
	AZCM_O_LOG_STDERR,
	AZCM_O_COUNT
};

struct azcm {
	const char		*config_dir;	/* --config-dir, ARC_CONFIG_DIR, /etc/arc */
	const char		*state_dir;	/* --state-dir, ARC_STATE_DIR, /var/lib/arc */
	const char		*run_dir;	/* --run-dir, ARC_RUN_DIR, /run/arc */
	int			 json;		/* -j: JSON on stdout */
	int			 verbose;	/* -v: where it looks, on stderr */
	char			 proxy_url[AZCM_URL_MAX];	/* how clients reach arcproxy */
	char			 admin_url[AZCM_URL_MAX];	/* arcproxy's admin API, "" when off */
	char			 himds_url[AZCM_URL_MAX];	/* himds's local API */
	const char		*proxy_from;	/* where proxy_url came from, for -v */
	struct proxyinfo	 pc;		/* arcproxy.conf, by arcproxy's loader */
	char			 pc_error[512];	/* why arcproxy.conf could not be read, or "" */
	struct args		 args;
	const char *const	*pos;		/* the words after the subcommand */
	int			 npos;
};

/* "azcmagent: <why>" on stderr, one line; returns code. */
int	 azcm_fail(int code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 azcm_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *azcm_opt(const struct azcm *, enum azcm_opt);
/* Prints o (and drops the reference): indented, keys in insertion order. */
void	 azcm_print_json(json_t *o);
/* Does arcproxy run?  Its pid (or -1 when only its port answers) in *pid. */
int	 azcm_proxy_alive(const struct azcm *, long *pid);
/* GET base+path on a local API (no proxy); 0 with resp filled when it answered. */
int	 azcm_local_get(const char *base, const char *path, const char *header,
	    long timeout_ms, struct probe_resp *);
/* arcproxy's GET /status (routes, gateway, upstream proxy, its config) as
 * JSON, or NULL when it does not answer. */
json_t	*azcm_status(const struct azcm *);
/* Why there is no /status: "arcproxy is not running" when neither its pid
 * file nor its port says it runs, else that its admin API does not answer. */
void	 azcm_status_why(const struct azcm *, char *why, size_t len);
/* "http://localhost:40343" for a loopback proxy URL: what extensions are told. */
void	 azcm_display_proxy(const char *url, char *out, size_t len);
/* s with its control characters as '?' (line breaks, tabs: spaces) in buf:
 * what the terminal may show of a text others chose; NULL stays NULL. */
const char *azcm_printable(const char *s, char *buf, size_t len);
/* A copy of o whose strings and keys are azcm_printable(): for the human
 * output of JSON that others wrote (-j prints the original). */
json_t	*azcm_json_printable(const json_t *o);
/* A JSON object's string member, or NULL. */
const char *azcm_jstr(const json_t *o, const char *key);

int	cmd_connect(struct azcm *);
int	cmd_disconnect(struct azcm *);
int	cmd_show(struct azcm *);
int	cmd_check(struct azcm *);
int	cmd_config(struct azcm *);
int	cmd_logs(struct azcm *);
int	cmd_extension(struct azcm *);

#endif
