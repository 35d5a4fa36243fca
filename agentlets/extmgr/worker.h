/* worker.h -- one reconcile pass, run in a child of the daemon: goal state fetched, each extension brought to it step by step (download, verify, unpack, handlers), every step reported and recorded. */
#ifndef EXTMGR_WORKER_H
#define EXTMGR_WORKER_H

#include "settings.h"

#define WORKER_EXIT_OK		0
#define WORKER_EXIT_FAIL	1	/* something local: logged */
#define WORKER_EXIT_UNREACHABLE	75	/* the cloud did not answer: retry soon */

/* Subdirectories of <state>/extmgr. */
#define EXTMGR_DIR		"extmgr"
#define EXTMGR_EXT_DIR		"extensions"	/* <Publisher>.<Type>-<Version>/ */
#define EXTMGR_DL_DIR		"downloads"	/* packages while they arrive */
#define EXTMGR_LOG_DIR		"logs"		/* <Publisher>.<Type>/ */
#define EXTMGR_CERTS_DIR	"certs"		/* <THUMB>.crt and .prv */
#define EXTMGR_REQ_DIR		"requests"	/* azcmagent extension remove */
#define EXTMGR_RUNS_DIR		"runs"		/* <P.T>: a handler's run under way */

/* Code reported for a refusal by a local setting (the VM agent's generic
 * failure: it has none of its own for this). */
#define EXTMGR_ERR_REFUSED	1
#define EXTMGR_ERR_DOWNLOAD	1004
#define EXTMGR_ERR_EXTRACT	1005

/*
 * Runs one pass and returns the exit status for the child: reads agent.conf
 * and machine.json afresh, registers the settings certificate when the
 * cloud does not have it, applies local removal requests, then brings each
 * extension of the goal state to it.  state_dir and config_dir absolute.
 */
int	worker_run(const char *config_dir, const char *state_dir,
	    const struct extmgr_settings *);

#endif
