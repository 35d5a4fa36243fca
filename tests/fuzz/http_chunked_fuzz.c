/* http_chunked_fuzz.c -- libFuzzer: chunked bodies (sizes, extensions, trailers) after a fixed head, through lib/http.c both ways, whole and in pieces. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char fz_req_head[] = "POST http://origin.test/upload HTTP/1.1\r\n"
    "Host: origin.test\r\nTransfer-Encoding: chunked\r\n\r\n";
static const char fz_resp_head[] = "HTTP/1.1 200 OK\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

/*
 * The first byte picks the message: '0' a request, '1' a response to an
 * HTTP/1.1 client, '3' a response to an HTTP/1.0 client (the proxy removes
 * the chunked framing).  The rest is the body as it comes after the head.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*head;
	uint8_t		*msg;
	size_t		 hlen;
	int		 response, ctx, whole;

	if (size < 1)
		return 0;
	response = data[0] & 1;
	ctx = FZ_RESP_KEEP | ((data[0] & 2) ? FZ_RESP_HTTP10 : 0);
	head = response ? fz_resp_head : fz_req_head;
	hlen = strlen(head);
	if ((msg = malloc(hlen + size - 1)) == NULL)
		abort();
	memcpy(msg, head, hlen);
	memcpy(msg + hlen, data + 1, size - 1);
	for (whole = 0; whole < 2; whole++) {
		if (response)
			fz_response_stream(msg, hlen + size - 1, ctx, whole);
		else
			fz_request_stream(msg, hlen + size - 1, whole);
	}
	free(msg);
	return 0;
}
