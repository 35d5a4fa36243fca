/* http_response_fuzz.c -- libFuzzer: an upstream's response stream through lib/http.c as arcproxy passes it to the client; the client must read the same responses, one for one. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The first byte is the request's context, its low four bits FZ_RESP_*:
 * '0' a GET from an HTTP/1.1 client that closes, '4' one that keeps the
 * connection, '5' a HEAD, '6' an HTTP/1.0 client with keep-alive, '<' an
 * upgrade.  The rest is what the upstream sends.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fz_response_stream(data + 1, size - 1, data[0] & 0x0f, 0);
	return 0;
}
