/* arcproxy_conf_fuzz.c -- libFuzzer: any arcproxy.conf through config_load(): a checked config or an error that names the file, never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_file.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char	*fz_dir;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_dir = fz_dir_new("arcproxy-conf");
	return 0;
}

static void
fz_bad(const char *what, const char *err)
{
	fprintf(stderr, "\n*** arcproxy.conf property broken: %s%s%s\n", what,
	    err ? ": " : "", err ? err : "");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cfg;
	char		 err[1024];
	int		 i;

	if (fz_has_include(data, size))
		return 0;
	fz_write(fz_dir, "arcproxy.conf", data, size);
	err[0] = '\0';
	if ((cfg = config_load(fz_dir, fz_dir, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			fz_bad("config_load failed without saying why", NULL);
		/* STYLE.md: configuration errors name the file. */
		if (strstr(err, "arcproxy.conf") == NULL)
			fz_bad("the error does not name the file", err);
		return 0;
	}
	if (cfg->nlisten < 1 || cfg->nlisten > CONFIG_MAX_LISTEN)
		fz_bad("listen count out of range", NULL);
	for (i = 0; i < cfg->nlisten; i++)
		if (cfg->listen_len[i] == 0 ||
		    cfg->listen_len[i] > sizeof(cfg->listen[i]))
			fz_bad("a listen address without a length", NULL);
	if (cfg->workers < 1 || cfg->workers > 64)
		fz_bad("workers out of range", NULL);
	if (cfg->routes == NULL)
		fz_bad("no route table", NULL);
	if (cfg->limits.max_head_bytes <= 0 || cfg->limits.buffer_bytes < 4096)
		fz_bad("limits out of range", NULL);
	for (i = 0; i < cfg->nhosts; i++)
		if (cfg->hosts[i].name == NULL || cfg->hosts[i].name[0] == '\0')
			fz_bad("a static host without a name", NULL);
	config_unref(cfg);
	return 0;
}
