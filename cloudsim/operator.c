/* operator.c -- the operator API, the Azure portal of the stand-in: list, show and delete machines, and their extensions, over plain HTTP on loopback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cloudsim.h"
#include "extensions.h"
#include "guestconfig.h"
#include "httpd.h"
#include "log.h"
#include "notify.h"
#include "operator.h"
#include "registry.h"
#include "sessions.h"
#include "simconf.h"

#define OPERATOR_MAX_BODY	65536	/* an extension's settings */

struct operator_api {
	struct cloudsim		*cs;
	const struct simconf	*cfg;
	struct registry		*registry;
	struct httpd		*httpd;
};

static void	operator_list(void *, struct httpd_request *, const char *);
static void	operator_get(void *, struct httpd_request *, const char *);
static void	operator_delete(void *, struct httpd_request *, const char *);
static void	operator_ext_list(void *, struct httpd_request *, const char *);
static void	operator_gc_list(void *, struct httpd_request *, const char *);
static void	operator_gc_get(void *, struct httpd_request *, const char *);
static void	operator_gc_put(void *, struct httpd_request *, const char *);
static void	operator_gc_delete(void *, struct httpd_request *, const char *);
static void	operator_ext_get(void *, struct httpd_request *, const char *);
static void	operator_ext_put(void *, struct httpd_request *, const char *);
static void	operator_ext_delete(void *, struct httpd_request *, const char *);
static void	operator_sessions(void *, struct httpd_request *, const char *);
static void	operator_goal_state(void *, struct httpd_request *, const char *);

static const struct httpd_route operator_routes[] = {
	{ "GET", "/operator/machines", operator_list },
	{ "GET", "/operator/machines/{}", operator_get },
	{ "DELETE", "/operator/machines/{}", operator_delete },
	{ "GET", "/operator/machines/{}/extensions", operator_ext_list },
	{ "GET", "/operator/machines/{}/extensions/{}", operator_ext_get },
	{ "PUT", "/operator/machines/{}/extensions/{}", operator_ext_put },
	{ "DELETE", "/operator/machines/{}/extensions/{}", operator_ext_delete },
	{ "GET", "/operator/machines/{}/guestConfigurationAssignments", operator_gc_list },
	{ "GET", "/operator/machines/{}/guestConfigurationAssignments/{}", operator_gc_get },
	{ "PUT", "/operator/machines/{}/guestConfigurationAssignments/{}", operator_gc_put },
	{ "DELETE", "/operator/machines/{}/guestConfigurationAssignments/{}",
	    operator_gc_delete },
	{ "POST", "/operator/machines/{}/sessions", operator_sessions },
	{ "POST", "/operator/machines/{}/goalState", operator_goal_state },
	{ NULL, NULL, NULL }
};

static json_t *
operator_view(struct operator_api *op, const struct registry_machine *m)
{
	return registry_machine_view(m, time(NULL),
	    op->cfg->control.heartbeat_interval_seconds);
}

/* The machine named in the path; NULL with 404 answered. */
static struct registry_machine *
operator_machine(struct operator_api *op, struct httpd_request *req,
    const char *name)
{
	struct registry_machine	*m;

	if ((m = registry_find(op->registry, name)) == NULL)
		httpd_error(req, 404, "NotFound", "no machine named %.64s", name);
	return m;
}

/* GET /operator/machines: every machine, in the order they registered. */
static void
operator_list(void *arg, struct httpd_request *req, const char *unused)
{
	struct operator_api	*op = arg;
	struct registry_machine	*m;
	json_t			*list;

	(void)unused;
	if ((list = json_array()) == NULL)
		goto fail;
	for (m = registry_first(op->registry); m != NULL; m = TAILQ_NEXT(m, entry))
		if (json_array_append_new(list, operator_view(op, m)) == -1)
			goto fail;
	httpd_reply(req, 200, list);
	return;
 fail:
	json_decref(list);
	httpd_error(req, 500, "InternalError", "out of memory");
}

/* GET /operator/machines/{name} */
static void
operator_get(void *arg, struct httpd_request *req, const char *name)
{
	struct operator_api	*op = arg;
	struct registry_machine	*m;
	json_t			*view;

	if ((m = operator_machine(op, req, name)) == NULL)
		return;
	if ((view = operator_view(op, m)) == NULL)
		httpd_error(req, 500, "InternalError", "out of memory");
	else
		httpd_reply(req, 200, view);
}

/* DELETE /operator/machines/{name}: as the machine's own DELETE. */
static void
operator_delete(void *arg, struct httpd_request *req, const char *name)
{
	struct operator_api	*op = arg;
	struct registry_machine	*m;
	char			 err[512];
	int			 n;

	if ((m = operator_machine(op, req, name)) == NULL)
		return;
	n = registry_remove(op->registry, m);
	log_info("machine %s deleted by the operator: %d certificate%s revoked",
	    name, n, n == 1 ? "" : "s");
	if (registry_save(op->registry, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		httpd_error(req, 500, "InternalError", "the machine is deleted, but "
		    "the control plane's state was not saved: %s", err);
		return;
	}
	extensions_machine_deleted(op->cs, name);
	httpd_reply(req, 200, json_pack("{s:s, s:i}", "name", name,
	    "revokedCertificates", n));
}

/* POST /operator/machines/{name}/sessions: see sessions.c. */
static void
operator_sessions(void *arg, struct httpd_request *req, const char *name)
{
	sessions_operator_post(((struct operator_api *)arg)->cs->sessions, req,
	    name);
}

/* POST /operator/machines/{name}/goalState: see notify.c. */
static void
operator_goal_state(void *arg, struct httpd_request *req, const char *name)
{
	struct operator_api	*op = arg;

	if (registry_find(op->registry, name) == NULL)
		httpd_error(req, 404, "NotFound", "no machine named %.64s", name);
	else
		notify_operator_post(op->cs->notify, req, name);
}

/* The extensions rows: machine in the path's first segment, extension in
 * its second. */
static void
operator_ext_list(void *arg, struct httpd_request *req, const char *machine)
{
	extensions_operator_list(((struct operator_api *)arg)->cs, req, machine);
}

static void
operator_ext_get(void *arg, struct httpd_request *req, const char *machine)
{
	extensions_operator_get(((struct operator_api *)arg)->cs, req, machine,
	    req->args[1]);
}

static void
operator_ext_put(void *arg, struct httpd_request *req, const char *machine)
{
	extensions_operator_put(((struct operator_api *)arg)->cs, req, machine,
	    req->args[1]);
}

static void
operator_ext_delete(void *arg, struct httpd_request *req, const char *machine)
{
	extensions_operator_delete(((struct operator_api *)arg)->cs, req,
	    machine, req->args[1]);
}

/* The guest configuration rows: guestconfig.c reads the path's names. */
static void
operator_gc_list(void *arg, struct httpd_request *req, const char *machine)
{
	(void)machine;
	guestconfig_operator_list(((struct operator_api *)arg)->cs, req);
}

static void
operator_gc_get(void *arg, struct httpd_request *req, const char *machine)
{
	(void)machine;
	guestconfig_operator_get(((struct operator_api *)arg)->cs, req);
}

static void
operator_gc_put(void *arg, struct httpd_request *req, const char *machine)
{
	(void)machine;
	guestconfig_operator_put(((struct operator_api *)arg)->cs, req);
}

static void
operator_gc_delete(void *arg, struct httpd_request *req, const char *machine)
{
	(void)machine;
	guestconfig_operator_delete(((struct operator_api *)arg)->cs, req);
}

static void
operator_serve(void *arg, struct httpd_request *req)
{
	const struct httpd_route	*r;
	char				 name[REGISTRY_NAME_MAX];

	if ((r = httpd_route(operator_routes, req, name, sizeof(name))) != NULL)
		r->fn(arg, req, name);
}

struct operator_api *
operator_api_new(struct cloudsim *cs, char *err, size_t errlen)
{
	const struct simconf	*cfg = cs->cfg;
	struct operator_api	*op;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		snprintf(err, errlen, "operator: out of memory");
		return NULL;
	}
	op->cs = cs;
	op->cfg = cfg;
	op->registry = cs->registry;
	if ((op->httpd = httpd_new(cs->base, "operator",
	    (const struct sockaddr *)&cfg->control.operator_listen,
	    cfg->control.operator_listen_len, NULL, OPERATOR_MAX_BODY,
	    operator_serve, op, err, errlen)) == NULL) {
		free(op);
		return NULL;
	}
	return op;
}

void
operator_api_stop(struct operator_api *op)
{
	if (op != NULL)
		httpd_stop(op->httpd);
}

void
operator_api_free(struct operator_api *op)
{
	if (op == NULL)
		return;
	httpd_free(op->httpd);
	free(op);
}
