/* extensions.h -- extensions on the control plane: the operator's PUT, DELETE and GET, the machine's settings certificate, goal state and status reports, protected settings encrypted to the settings certificate (CMS). */
#ifndef EXTENSIONS_H
#define EXTENSIONS_H

struct cloudsim;
struct httpd_request;

#define EXTENSIONS_PACKAGE_BASE	"https://packages.cloudsim.test/packages/"

/* The operator API; machine and ext from the path.  Each answers req. */
void	extensions_operator_put(struct cloudsim *, struct httpd_request *,
	    const char *machine, const char *ext);
void	extensions_operator_delete(struct cloudsim *, struct httpd_request *,
	    const char *machine, const char *ext);
void	extensions_operator_get(struct cloudsim *, struct httpd_request *,
	    const char *machine, const char *ext);
void	extensions_operator_list(struct cloudsim *, struct httpd_request *,
	    const char *machine);

/* The machine's side; the caller has checked that the client certificate
 * is machine's. */
void	extensions_settings_certificate(struct cloudsim *, struct httpd_request *,
	    const char *machine);
void	extensions_goal_state(struct cloudsim *, struct httpd_request *,
	    const char *machine);
void	extensions_status(struct cloudsim *, struct httpd_request *,
	    const char *machine, const char *ext);

/* The machine was deleted: its extensions and settings certificate go. */
void	extensions_machine_deleted(struct cloudsim *, const char *machine);

#endif
