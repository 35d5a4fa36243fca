/* gc_doc_fuzz.c -- libFuzzer: any bytes as a guestconfig configuration document (and, after a "\n--\n", its configurationParameter) through gc_doc_parse(): refused with a reason, or parsed within its limits; never evaluated. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gc_doc	*doc;
	json_t		*params = NULL;
	const char	*text = (const char *)data;
	const char	*sep;
	size_t		 doclen = size;
	char		 err[512];

	sep = memmem(data, size, "\n--\n", 4);
	if (sep != NULL) {
		doclen = sep - text;
		params = json_loadb(sep + 4, size - doclen - 4, 0, NULL);
	}
	err[0] = '\0';
	doc = gc_doc_parse(text, doclen, params, err, sizeof(err));
	if (doc == NULL) {
		/* a refusal always says why */
		if (err[0] == '\0')
			abort();
	} else {
		if (gc_doc_count(doc) > GC_DOC_MAX_RESOURCES ||
		    gc_doc_invalid(doc) > gc_doc_count(doc) ||
		    gc_doc_name(doc) == NULL || gc_doc_name(doc)[0] == '\0')
			abort();
		gc_doc_free(doc);
	}
	json_decref(params);
	return 0;
}
