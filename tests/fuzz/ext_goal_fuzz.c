/* ext_goal_fuzz.c -- libFuzzer: any bytes as the cloud's extension goal state through goal_parse(): refused with a reason, or every name that becomes a path is a plain file name. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goal.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fz_check_name(const char *s, size_t max)
{
	if (s == NULL || s[0] == '\0' || s[0] == '.' || strlen(s) > max ||
	    strchr(s, '/') != NULL || strchr(s, '\\') != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct goal	g;
	char		err[256];
	int		i;

	err[0] = '\0';
	if (goal_parse((const char *)data, size, &g, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || g.n != 0 || g.ext != NULL)
			abort();
		return 0;
	}
	if (g.n < 0 || g.n > GOAL_MAX_EXTENSIONS || g.seq < 0)
		abort();
	for (i = 0; i < g.n; i++) {
		fz_check_name(g.ext[i].name, 64);
		fz_check_name(g.ext[i].publisher, 128);
		fz_check_name(g.ext[i].type, 128);
		fz_check_name(g.ext[i].version, 64);
		if (g.ext[i].seq < 0 || g.ext[i].public_settings == NULL)
			abort();
		if (g.ext[i].present && (g.ext[i].url == NULL ||
		    strncmp(g.ext[i].url, "https://", 8) != 0 ||
		    g.ext[i].sha256 == NULL || strlen(g.ext[i].sha256) != 64))
			abort();
		if (goal_find(&g, g.ext[i].name) != &g.ext[i])
			abort();
	}
	goal_clear(&g);
	return 0;
}
