/* extreq.h -- the extension requests' bodies, checked: the operator's PUT and the machine's status report, and the names they carry. */
#ifndef EXTREQ_H
#define EXTREQ_H

#include <stddef.h>

#include <jansson.h>

#define EXTREQ_PUBLISHER_MAX	64
#define EXTREQ_TYPE_MAX		64
#define EXTREQ_VERSION_MAX	32
#define EXTREQ_MESSAGE_MAX	4096	/* a status message is cut there */
#define EXTREQ_SUBSTATUS_MAX	32

/* PUT /operator/machines/M/extensions/E */
struct extreq_put {
	json_t		*doc;			/* the body; the rest is borrowed from it */
	const char	*publisher;
	const char	*type;
	const char	*version;
	json_t		*public_settings;	/* an object ({} when absent) */
	json_t		*protected_settings;	/* an object, or NULL when absent */
};

/* PUT /machines/M/extensions/E/status */
struct extreq_status {
	json_t		*doc;
	long long	 sequence_number;
	const char	*version;	/* "" when absent */
	const char	*operation;	/* Download|Verify|Install|Enable|Update|Disable|Uninstall */
	const char	*status;	/* transitioning|success|warning|error */
	long long	 code;
	const char	*message;	/* "" when absent */
	const char	*handler_state;	/* NULL when absent */
	json_t		*substatus;	/* an array, or NULL */
};

/*
 * Parse and check a body (bytes as received): 0, or -1 with why (in words
 * for the client; the answer is 400 InvalidRequest or InvalidJson, see
 * *code).  extreq_*_free releases what a successful parse holds.
 */
int	extreq_put_parse(const char *body, size_t len, struct extreq_put *,
	    const char **code, char *why, size_t whylen);
void	extreq_put_free(struct extreq_put *);
int	extreq_status_parse(const char *body, size_t len, struct extreq_status *,
	    const char **code, char *why, size_t whylen);
void	extreq_status_free(struct extreq_status *);
/* PUT /machines/M/settingsCertificate {"certificate": PEM}: the PEM
 * (borrowed from *doc, which the caller releases with json_decref). */
int	extreq_cert_parse(const char *body, size_t len, json_t **doc,
	    const char **pem, const char **code, char *why, size_t whylen);
/* What is stored and shown of a report: {"sequenceNumber", "version",
 * "operation", "status", "code", "message" (cut at EXTREQ_MESSAGE_MAX
 * bytes on a character boundary), "handlerState"?, "substatus"?}. */
json_t	*extreq_status_json(const struct extreq_status *);

/* Publisher 1-64 of [A-Za-z0-9.] without an empty dotted part; type 1-64
 * of [A-Za-z0-9._-] starting with a letter or digit; version 1 to 4
 * dot-separated numbers ("1.0", "2.1.0.3"). */
int	extreq_publisher_ok(const char *);
int	extreq_type_ok(const char *);
int	extreq_version_ok(const char *);

#endif
