/* ext_manifest_fuzz.c -- libFuzzer: any bytes as HandlerManifest.json, status/<seq>.status and heartbeat.log through manifest.c's parsers: a manifest with five commands or 1003 with a reason, a status or heartbeat always filled within its caps. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

#define FZ_TRUNCATED_MAX	(MANIFEST_STATUS_MAX_MESSAGE + 16)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
static void	fz_bad(const char *, const char *) __attribute__((noreturn));

static void
fz_bad(const char *what, const char *detail)
{
	fprintf(stderr, "\n*** manifest property broken: %s%s%s\n", what,
	    detail ? ": " : "", detail ? detail : "");
	abort();
}

static int
fz_status_value(const char *s)
{
	return strcmp(s, "transitioning") == 0 || strcmp(s, "warning") == 0 ||
	    strcmp(s, "error") == 0 || strcmp(s, "success") == 0;
}

static void
fz_manifest(const char *buf, size_t len)
{
	struct manifest	*m = NULL, *again = NULL;
	char		 err[512], err2[512];
	int		 rc, rc2, i;

	err[0] = '\0';
	rc = manifest_parse(buf, len, &m, err, sizeof(err));
	rc2 = manifest_parse(buf, len, &again, err2, sizeof(err2));
	if (rc != rc2)
		fz_bad("manifest: not the same answer twice", err);
	manifest_free(again);
	if (rc == MANIFEST_ERR_INVALID) {
		if (m != NULL)
			fz_bad("manifest: refused but returned", err);
		if (err[0] == '\0' || strncmp(err, MANIFEST_FILE, strlen(MANIFEST_FILE)) != 0)
			fz_bad("manifest: refused without naming the file", err);
		return;
	}
	if (rc != 0 || m == NULL)
		fz_bad("manifest: neither 0 nor 1003", err);
	for (i = 0; i < MANIFEST_OP_COUNT; i++)
		if (m->command[i] == NULL || m->command[i][0] == '\0')
			fz_bad("manifest: accepted with an empty command",
			    manifest_op_name((enum manifest_op)i));
	if (m->update_mode != MANIFEST_UPDATE_WITH_INSTALL &&
	    m->update_mode != MANIFEST_UPDATE_WITHOUT_INSTALL)
		fz_bad("manifest: an update mode out of range", NULL);
	if ((m->report_heartbeat | m->continue_on_update_failure |
	    m->supports_multiple_extensions) & ~1)
		fz_bad("manifest: a boolean neither 0 nor 1", NULL);
	manifest_free(m);
}

static void
fz_status(const char *buf, size_t len)
{
	struct manifest_status	*st = NULL;
	char			 err[512];
	int			 rc;

	err[0] = '\0';
	rc = manifest_status_parse(buf, len, &st, err, sizeof(err));
	if (rc == -1)
		return;		/* out of memory: nothing to check */
	if (st == NULL)
		fz_bad("status: nothing returned", err);
	if (!fz_status_value(st->status))
		fz_bad("status: a value beyond the four", st->status);
	if (st->message != NULL && strlen(st->message) > FZ_TRUNCATED_MAX)
		fz_bad("status: message past its cap", NULL);
	if (st->substatus == NULL || !json_is_array(st->substatus))
		fz_bad("status: substatus not an array", NULL);
	if (rc == MANIFEST_ERR_STATUS) {
		if (err[0] == '\0' || st->from_handler || st->code !=
		    MANIFEST_ERR_STATUS || strcmp(st->status, "error") != 0 ||
		    st->message == NULL)
			fz_bad("status: refused without an error status and reason",
			    err);
	} else if (rc != 0 || !st->from_handler)
		fz_bad("status: neither the handler's nor 1012", err);
	manifest_status_free(st);
}

static void
fz_heartbeat(const char *buf, size_t len)
{
	struct manifest_heartbeat	*hb = NULL;
	char				 err[512];
	int				 rc;

	err[0] = '\0';
	rc = manifest_heartbeat_parse(buf, len, &hb, err, sizeof(err));
	if (rc == -1)
		return;
	if (hb == NULL || hb->message == NULL)
		fz_bad("heartbeat: nothing returned", err);
	if (strlen(hb->message) > FZ_TRUNCATED_MAX)
		fz_bad("heartbeat: message past its cap", NULL);
	if (rc == MANIFEST_ERR_STATUS && (err[0] == '\0' || hb->responsive ||
	    strcmp(hb->status, "error") != 0))
		fz_bad("heartbeat: refused without an error and reason", err);
	if (rc == 0 && !hb->responsive)
		fz_bad("heartbeat: parsed but not responsive", NULL);
	manifest_heartbeat_free(hb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data;

	fz_manifest(buf, size);
	fz_status(buf, size);
	fz_heartbeat(buf, size);
	return 0;
}
