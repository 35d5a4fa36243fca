/* cloud.h -- extmgr's calls to the control plane as this machine (goal state, status, settings certificate), blocking, through arcproxy with the machine certificate. */
#ifndef EXTMGR_CLOUD_H
#define EXTMGR_CLOUD_H

#include <stddef.h>

#include <jansson.h>

struct extmgr_cloud {
	char	*name;		/* the machine's resource name */
	char	*cloud_url;	/* "https://host[:port]" */
	char	*ca_file;	/* trust for the cloud and the package host */
	char	*himds_dir;	/* <state>/himds: machine.crt and .key, himds's */
	char	*proxy;		/* arcproxy */
	long	 timeout_ms;
};

/* Reads <state>/machine.json: 0; 1 when the machine is not connected
 * (no machine.json); -1 with err when it is broken. */
int	cloud_load(struct extmgr_cloud *, const char *state_dir,
	    const char *proxy, long timeout_ms, char *err, size_t errlen);
void	cloud_clear(struct extmgr_cloud *);

/*
 * One call: method on <cloud_url>/machines/<name>/<path>, body JSON or
 * NULL.  Returns the HTTP status (0: no answer, the cloud is unreachable)
 * with *answer the parsed body (or NULL) and err the reason when the
 * status is not 2xx.  The machine's certificate and key are read for
 * each call from himds's folder as himds's data (lib/safedir: never
 * through a symlink, regular files of one link, bounded); when they cannot
 * be, 0 with err naming the file and why.
 */
long	cloud_call(const struct extmgr_cloud *, const char *method,
	    const char *path, json_t *body, char **answer, size_t *answer_len,
	    char *err, size_t errlen);

#endif
