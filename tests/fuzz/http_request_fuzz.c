/* http_request_fuzz.c -- libFuzzer: a client's request stream through lib/http.c as arcproxy forwards it; the next hop must read the same requests, one for one. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_request_stream(data, size, 0);
	return 0;
}
