/* ext_req_fuzz.c -- libFuzzer: any body of an extension request (the operator's PUT, the machine's status report, its settings certificate) through cloudsim's extreq: refused with a code and a reason, or fields that meet the contract. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "extreq.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fz_bad(const char *what)
{
	fprintf(stderr, "\n*** extreq property broken: %s\n", what);
	abort();
}

static void
fz_refused(const char *code, const char *why)
{
	if (code == NULL || why[0] == '\0')
		fz_bad("a refusal without a code or a reason");
}

static void
fz_put(const char *body, size_t len)
{
	struct extreq_put	 p;
	const char		*code = NULL;
	char			 why[256] = "";

	if (extreq_put_parse(body, len, &p, &code, why, sizeof(why)) == -1) {
		fz_refused(code, why);
		return;
	}
	if (!extreq_publisher_ok(p.publisher) || !extreq_type_ok(p.type) ||
	    !extreq_version_ok(p.version) || !json_is_object(p.public_settings) ||
	    (p.protected_settings != NULL && !json_is_object(p.protected_settings)))
		fz_bad("a PUT accepted with a bad field");
	extreq_put_free(&p);
}

static void
fz_status(const char *body, size_t len)
{
	struct extreq_status	 s;
	const char		*code = NULL, *msg;
	char			 why[256] = "", *text;
	json_t			*o;

	if (extreq_status_parse(body, len, &s, &code, why, sizeof(why)) == -1) {
		fz_refused(code, why);
		return;
	}
	if (s.sequence_number < 0 || s.version == NULL ||
	    strlen(s.version) > EXTREQ_VERSION_MAX)
		fz_bad("a report accepted with a bad field");
	if ((o = extreq_status_json(&s)) == NULL)
		fz_bad("an accepted report cannot be stored");
	msg = json_string_value(json_object_get(o, "message"));
	if (msg == NULL || strlen(msg) > EXTREQ_MESSAGE_MAX)
		fz_bad("the stored message is longer than the cap");
	/* What is stored must encode (valid UTF-8: not cut inside a character). */
	if ((text = json_dumps(o, JSON_COMPACT)) == NULL)
		fz_bad("the stored report does not encode");
	free(text);
	json_decref(o);
	extreq_status_free(&s);
}

static void
fz_cert(const char *body, size_t len)
{
	json_t		*doc = NULL;
	const char	*pem = NULL, *code = NULL;
	char		 why[256] = "";

	if (extreq_cert_parse(body, len, &doc, &pem, &code, why, sizeof(why)) ==
	    -1) {
		fz_refused(code, why);
		if (doc != NULL || pem != NULL)
			fz_bad("a refused certificate body left a document");
		return;
	}
	if (pem == NULL || strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL)
		fz_bad("a certificate body accepted without a PEM");
	json_decref(doc);
}

/* The first byte picks the request; the rest is its body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*body;

	if (size == 0)
		return 0;
	body = (const char *)data + 1;
	switch (data[0] % 3) {
	case 0:
		fz_put(body, size - 1);
		break;
	case 1:
		fz_status(body, size - 1);
		break;
	default:
		fz_cert(body, size - 1);
		break;
	}
	return 0;
}
