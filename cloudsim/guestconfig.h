/* guestconfig.h -- guest configuration assignments of each machine and the reports the machines post, kept in guestconfig.json. */
#ifndef CLOUDSIM_GUESTCONFIG_H
#define CLOUDSIM_GUESTCONFIG_H

#include <stddef.h>

struct cloudsim;
struct guestconfig;
struct httpd_request;
struct registry;

#define GUESTCONFIG_FILE		"guestconfig.json"	/* in the state dir */
#define GUESTCONFIG_MAX_ASSIGNMENTS	50	/* per machine, as Azure */
#define GUESTCONFIG_HISTORY		10	/* reports kept per assignment */

/*
 * Reads <state_dir>/guestconfig.json (missing: none yet).  registry is
 * consulted for machines that still exist (the assignments of a deleted
 * machine go with the next save).  NULL with err naming the problem.
 */
struct guestconfig	*guestconfig_load(const char *state_dir,
			    struct registry *, char *err, size_t errlen);
void			 guestconfig_free(struct guestconfig *);

/*
 * The operator API (cs->guestconfig), on a path under /operator/machines/
 * M/guestConfigurationAssignments: PUT, DELETE and GET of one assignment,
 * GET of the list.  Each answers req (404 when there is no machine M).  A
 * change is saved, then goalstate_changed() is called.
 */
void	guestconfig_operator_put(struct cloudsim *, struct httpd_request *);
void	guestconfig_operator_delete(struct cloudsim *, struct httpd_request *);
void	guestconfig_operator_get(struct cloudsim *, struct httpd_request *);
void	guestconfig_operator_list(struct cloudsim *, struct httpd_request *);

/*
 * The machine's side, once the control plane has checked that the client
 * certificate is machine's: GET /machines/M/guestConfigurationAssignments
 * and POST /machines/M/guestConfigurationAssignments/A/reports.
 */
void	guestconfig_machine_get(struct cloudsim *, struct httpd_request *,
	    const char *machine);
void	guestconfig_machine_report(struct cloudsim *, struct httpd_request *,
	    const char *machine);

#endif
