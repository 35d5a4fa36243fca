/* gc_assign_fuzz.c -- libFuzzer: any bytes as the cloud's list of guest configuration assignments through gc_list_parse(): refused with a reason, or at most 50 records of distinct, valid names, each an https:// URL and 64 lower-case hex digits. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gclist.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gc_assignments	 list;
	struct gc_assignment	*a, *b;
	long long		 seq;
	char			 why[512];
	int			 n, count = 0, i;

	TAILQ_INIT(&list);
	why[0] = 'x';
	n = gc_list_parse((const char *)data, size, &list, &seq, why,
	    sizeof(why));
	if (n == -1) {
		if (why[0] == '\0' || !TAILQ_EMPTY(&list))
			abort();
		return 0;
	}
	if (n > GC_MAX_ASSIGNMENTS)
		abort();
	TAILQ_FOREACH(a, &list, entry) {
		count++;
		if (!gc_name_ok(a->name) || a->content_uri == NULL ||
		    strncmp(a->content_uri, "https://", 8) != 0 ||
		    strlen(a->content_hash) != 64 || a->params == NULL ||
		    !json_is_array(a->params) || (int)a->type < 0 ||
		    (int)a->type > 2 || strchr(a->dir, '/') != NULL ||
		    a->dir[0] == '.')
			abort();
		for (i = 0; i < 64; i++)
			if (!isxdigit((unsigned char)a->content_hash[i]) ||
			    isupper((unsigned char)a->content_hash[i]))
				abort();
		for (b = TAILQ_NEXT(a, entry); b != NULL; b = TAILQ_NEXT(b, entry))
			if (strcmp(a->name, b->name) == 0)
				abort();
		if (!gc_same_params(a, a))
			abort();
	}
	if (count != n)
		abort();
	gc_list_clear(&list);
	return 0;
}
