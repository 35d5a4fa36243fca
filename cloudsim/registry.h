/* registry.h -- the control plane's machines: their resources, certificate serials, revocations and heartbeats, kept in control.json. */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <sys/queue.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define REGISTRY_NAME_MAX	64	/* a machine name and its NUL */
#define REGISTRY_SERIAL_MAX	80	/* a serial number in hex and its NUL */
#define REGISTRY_TIME_MAX	24	/* "2024-05-01T12:00:00Z" and its NUL */

/* A certificate the control plane issued, by serial number. */
struct registry_cert {
	char	serial[REGISTRY_SERIAL_MAX];	/* upper-case hex, as BN_bn2hex writes it */
	time_t	not_after;			/* past it the entry is dropped */
	char	machine[REGISTRY_NAME_MAX];	/* whose it was (revoked entries) */
};

/* A registered machine.  Read its fields; change them through the functions below. */
struct registry_machine {
	TAILQ_ENTRY(registry_machine) entry;
	char			 name[REGISTRY_NAME_MAX];
	json_t			*resource;	/* {"resourceId", ..., "vmId", "tags"}, as register answered */
	char			*agent_version;	/* last reported; "" if never */
	time_t			 registered;
	time_t			 last_heartbeat;	/* 0: none yet */
	struct registry_cert	*certs;		/* every unexpired certificate it was issued */
	int			 ncerts;
};

TAILQ_HEAD(registry_machines, registry_machine);

/* What a client certificate is to the control plane. */
enum registry_cert_state {
	REGISTRY_CERT_MACHINE,	/* issued to the registered machine it names: an identity */
	REGISTRY_CERT_REVOKED,	/* its machine was deleted */
	REGISTRY_CERT_UNKNOWN,	/* not issued by the control plane (cloudsim machine-cert), or
				 * issued to another name than its CN */
};

struct registry;

/* Reads path (a missing file is an empty registry); NULL with err naming the problem. */
struct registry		*registry_load(const char *path, char *err, size_t errlen);
/* Writes the whole registry to its file atomically, dropping expired certificates first. */
int			 registry_save(struct registry *, char *err, size_t errlen);
void			 registry_free(struct registry *);

struct registry_machine	*registry_first(struct registry *);
struct registry_machine	*registry_find(struct registry *, const char *name);
/* A new machine; takes a reference to resource.  NULL when out of memory. */
struct registry_machine	*registry_add(struct registry *, const char *name,
			    json_t *resource, const char *agent_version, time_t now);
/* Drops the machine and revokes every certificate it had: their count. */
int			 registry_remove(struct registry *, struct registry_machine *);
/* Drops the machine as if it had never been added (a registration undone). */
void			 registry_forget(struct registry *, struct registry_machine *);
int			 registry_add_cert(struct registry_machine *, const char *serial,
			    time_t not_after);
/* Undoes the last registry_add_cert (a renewal that could not be saved). */
void			 registry_drop_last_cert(struct registry_machine *);
int			 registry_heartbeat(struct registry_machine *, time_t now,
			    const char *agent_version);
/* A client certificate's standing, by its CN and serial; *m is its machine
 * for REGISTRY_CERT_MACHINE, and *owner the deleted machine's name for
 * REGISTRY_CERT_REVOKED (either may be NULL). */
enum registry_cert_state registry_cert_state(struct registry *, const char *cn,
			    const char *serial, time_t now, struct registry_machine **m,
			    const char **owner);

/* Connected while the last heartbeat is younger than 3 intervals. */
int			 registry_connected(const struct registry_machine *, time_t now,
			    long long heartbeat_interval);
/* {"name", "resourceId", "vmId", "status", "lastHeartbeat", "agentVersion",
 * "certificateNotAfter"}: the operator API's view; NULL when out of memory. */
json_t			*registry_machine_view(const struct registry_machine *, time_t now,
			    long long heartbeat_interval);

/* Is name [A-Za-z0-9][A-Za-z0-9-_.]{0,62}? */
int			 registry_name_ok(const char *name);
/* RFC 3339 in UTC: "2024-05-01T12:00:00Z". */
void			 registry_time_text(time_t, char *buf, size_t len);

#endif
