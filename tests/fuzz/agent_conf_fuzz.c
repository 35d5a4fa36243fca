/* agent_conf_fuzz.c -- libFuzzer: any agent.conf through agentconf_load(): an error, or settings that agentconf_save() writes and agentconf_load() reads back the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentconf.h"
#include "fuzz_file.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char	*fz_dir, *fz_dir2;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_dir = fz_dir_new("agent-conf");
	fz_dir2 = fz_dir_new("agent-conf-saved");
	return 0;
}

static void
fz_bad(const char *what, const char *detail)
{
	fprintf(stderr, "\n*** agent.conf property broken: %s%s%s\n", what,
	    detail ? ": " : "", detail ? detail : "");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct agentconf_key	*k;
	struct agentconf		 ac, back;
	char				 err[1024], *a, *b;

	if (fz_has_include(data, size))
		return 0;
	fz_write(fz_dir, "agent.conf", data, size);
	err[0] = '\0';
	if (agentconf_load(fz_dir, &ac, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			fz_bad("agentconf_load failed without saying why", NULL);
		if (strstr(err, "agent.conf") == NULL)
			fz_bad("the error does not name the file", err);
		return 0;
	}
	(void)agentconf_check(&ac, err, sizeof(err));
	/* What azcmagent config writes must read back as it was. */
	if (agentconf_save(fz_dir2, &ac, err, sizeof(err)) == -1)
		fz_bad("agentconf_save failed", err);
	if (agentconf_load(fz_dir2, &back, err, sizeof(err)) == -1)
		fz_bad("what agentconf_save wrote does not load", err);
	for (k = agentconf_keys; k->name != NULL; k++) {
		a = agentconf_get(&ac, k);
		b = agentconf_get(&back, k);
		if (a == NULL || b == NULL)
			fz_bad("agentconf_get failed", k->name);
		if (strcmp(a, b) != 0) {
			fprintf(stderr, "%s: \"%s\" saved, \"%s\" read back\n",
			    k->name, a, b);
			fz_bad("a setting changed through save and load", k->name);
		}
		free(a);
		free(b);
	}
	agentconf_clear(&ac);
	agentconf_clear(&back);
	return 0;
}
