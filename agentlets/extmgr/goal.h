/* goal.h -- the cloud's goal state for the machine's extensions (GET /machines/M/extensions), parsed and checked. */
#ifndef EXTMGR_GOAL_H
#define EXTMGR_GOAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define GOAL_MAX_EXTENSIONS	128
#define GOAL_PACKAGE_MAX	(2LL << 30)	/* bytes: ARC-FACTS' 2 GB */

struct goal_ext {
	char		*name;		/* [A-Za-z0-9._-]{1,64}: a file name */
	char		*publisher;	/* [A-Za-z0-9.]+ */
	char		*type;		/* [A-Za-z0-9._-]+ */
	char		*version;	/* [A-Za-z0-9.]+ (goal_version_cmp) */
	int		 present;	/* desiredState "present" (else "absent") */
	long long	 seq;		/* sequenceNumber, >= 0 */
	json_t		*public_settings;	/* an object (owned) */
	char		*protected_settings;	/* base64 DER CMS, or NULL */
	char		*thumbprint;	/* protectedSettingsCertThumbprint */
	char		*url;		/* package.url: https://... */
	char		*signature_url;	/* package.signatureUrl */
	char		*sha256;	/* 64 hex */
	uint64_t	 size;
};

struct goal {
	long long	 seq;		/* goalStateSeq */
	struct goal_ext	*ext;
	int		 n;
};

/* Parses the answer's body; 0, or -1 with err naming the bad field.
 * Nothing in it is trusted: every name that becomes a path is checked. */
int	goal_parse(const char *text, size_t len, struct goal *, char *err,
	    size_t errlen);
void	goal_clear(struct goal *);
const struct goal_ext *goal_find(const struct goal *, const char *name);
/* Is s a name that may become a path component here? */
int	goal_name_ok(const char *s, const char *extra, size_t max);
/*
 * Orders two versions as the VM agent's FlexibleVersion does the ones it
 * meets: dot-separated numbers compared as numbers ("1.10" > "1.9"),
 * leading zeros and missing trailing fields nothing ("1.0" == "1.0.0");
 * letters after a field's number are a pre-release tag, below the bare
 * number ("1.0" > "1.0rc1"), and two tags compare as strings.  <0, 0, >0.
 */
int	goal_version_cmp(const char *a, const char *b);

#endif
