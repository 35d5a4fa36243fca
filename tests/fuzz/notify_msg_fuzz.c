/* notify_msg_fuzz.c -- libFuzzer: any text frame from the cloud through notify_msg_parse(): an error, an ignored type, or a message whose every field keeps the parser's promises. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fz_bad(const char *what, const char *value)
{
	fprintf(stderr, "\n*** notify message property broken: %s: %s\n", what,
	    value);
	abort();
}

/* Every character a letter, a digit or one of extra, and at least min. */
static void
fz_word(const char *what, const char *s, size_t min, const char *extra)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
			fz_bad(what, s);
	if (i < min)
		fz_bad(what, s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notify_msg	 m;
	char			 err[256], *text;
	size_t			 i;
	int			 rc;

	rc = notify_msg_parse((const char *)data, size, &m, err, sizeof(err));
	if (rc == -1 && err[0] == '\0')
		fz_bad("an error without a reason", "");
	if (rc != 0)
		return 0;
	if (m.type == NOTIFY_MSG_GOALSTATE) {
		/* The topic names a file in <run>/notify: never a path. */
		if (m.topic == NULL || (strcmp(m.topic, "extensions") != 0 &&
		    strcmp(m.topic, "guestConfiguration") != 0))
			fz_bad("topic", m.topic ? m.topic : "(null)");
		if (m.seq < 0)
			fz_bad("seq", "negative");
		return 0;
	}
	fz_word("id", m.id, 1, "-");
	fz_word("relay host", m.relay_host, 1, ".-");
	fz_word("token", m.token, 16, "_-");
	if (m.port < 1 || m.port > 65535 || m.relay_port == 0)
		fz_bad("port", m.id);
	/* Written to logs: printable, no line breaks. */
	for (i = 0; m.requested_by[i] != '\0'; i++)
		if (m.requested_by[i] < 0x20 || m.requested_by[i] > 0x7e)
			fz_bad("requestedBy", m.requested_by);
	if ((text = notify_msg_refusal(m.id, "refused here")) == NULL)
		fz_bad("refusal", m.id);
	free(text);
	return 0;
}
