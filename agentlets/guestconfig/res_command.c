/* res_command.c -- the command_output resource: an argv run without a shell under a time limit, its output matched against a regex; audit only. */
#include <sys/wait.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resources.h"

#define COMMAND_MAX_ARGS	64
#define COMMAND_MAX_OUTPUT	(64 * 1024)
#define COMMAND_DEFAULT_MS	10000

struct command_props {
	char		**argv;		/* NULL-terminated */
	size_t		  argc;
	char		 *regex_text;
	regex_t		  regex;
	int		  compiled;
	int		  match;	/* 0: the output must not match */
	long long	  exit_code;	/* -1: any */
	long long	  timeout_ms;	/* 0: the context's */
};

static int
command_parse(void *p, const json_t *props, char *err, size_t errlen)
{
	static const char *const	 keys[] = { "argv", "regex", "ensure",
	    "exitCode", "timeoutMs", NULL };
	struct command_props		*c = p;
	json_t				*argv, *a;
	size_t				 i;

	if (gc_props_only(props, keys, err, errlen) == -1 ||
	    gc_prop_ensure(props, "match", "nomatch", &c->match, err,
	    errlen) == -1 ||
	    gc_prop_int(props, "exitCode", 0, 255, -1, &c->exit_code, err,
	    errlen) == -1 ||
	    gc_prop_int(props, "timeoutMs", 1, 600000, 0, &c->timeout_ms, err,
	    errlen) == -1)
		return -1;
	argv = json_object_get(props, "argv");
	if (!json_is_array(argv) || json_array_size(argv) == 0 ||
	    json_array_size(argv) > COMMAND_MAX_ARGS) {
		snprintf(err, errlen, "property argv: expected an array of 1 to "
		    "%d strings", COMMAND_MAX_ARGS);
		return -1;
	}
	if ((c->argv = calloc(json_array_size(argv) + 1, sizeof(char *))) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_array_foreach(argv, i, a) {
		if (!json_is_string(a) || strlen(json_string_value(a)) !=
		    json_string_length(a) || json_string_length(a) > 4096) {
			snprintf(err, errlen, "property argv: expected strings "
			    "without NUL");
			return -1;
		}
		if ((c->argv[i] = strdup(json_string_value(a))) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		c->argc++;
	}
	if (c->argv[0][0] != '/') {
		snprintf(err, errlen, "property argv: argv[0] \"%.64s\" is not "
		    "an absolute path (nothing is looked up in PATH)",
		    c->argv[0]);
		return -1;
	}
	if (gc_prop_regex(props, "regex", REG_NEWLINE, &c->regex,
	    &c->regex_text, err, errlen) == -1)
		return -1;
	c->compiled = 1;
	return 0;
}

static void
command_free(void *p)
{
	struct command_props	*c = p;
	size_t			 i;

	for (i = 0; c->argv != NULL && i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c->regex_text);
	if (c->compiled)
		regfree(&c->regex);
}

/* The first line of out, cut, for a reason. */
static void
excerpt(const char *out, char *buf, size_t len)
{
	size_t	 i;

	snprintf(buf, len, "%s", out);
	for (i = 0; buf[i] != '\0'; i++)
		if (buf[i] == '\n' || buf[i] == '\r') {
			buf[i] = '\0';
			break;
		}
}

static int
command_test(const void *p, struct gc_run *run)
{
	const struct command_props	*c = p;
	char				*out = NULL, err[256], first[100];
	long long			 limit;
	int				 status, timedout, matched, ok = 1;

	limit = run->ctx->command_timeout_ms > 0 ?
	    run->ctx->command_timeout_ms : COMMAND_DEFAULT_MS;
	if (c->timeout_ms > 0 && c->timeout_ms < limit)
		limit = c->timeout_ms;
	if (gc_exec(c->argv, (int)limit, 0, &out, COMMAND_MAX_OUTPUT, &status,
	    &timedout, err, sizeof(err)) == -1) {
		gc_reason(run, "EXEC", "%s", err);
		return 0;
	}
	if (timedout) {
		gc_reason(run, "TIMEOUT", "%s: killed after its time limit of "
		    "%lld ms", c->argv[0], limit);
		free(out);
		return 0;
	}
	if (WIFSIGNALED(status)) {
		gc_reason(run, "EXIT", "%s: killed by signal %d", c->argv[0],
		    WTERMSIG(status));
		ok = 0;
	} else if (c->exit_code != -1 && WEXITSTATUS(status) != c->exit_code) {
		gc_reason(run, "EXIT", "%s exited %d, expected %lld",
		    c->argv[0], WEXITSTATUS(status), c->exit_code);
		ok = 0;
	}
	matched = regexec(&c->regex, out, 0, NULL, 0) == 0;
	excerpt(out, first, sizeof(first));
	if (matched != c->match) {
		gc_reason(run, "OUTPUT", "output of %s %s /%s/, expected it %s "
		    "(first line \"%s\")", c->argv[0], matched ? "matches" :
		    "does not match", c->regex_text, c->match ? "to" : "not to",
		    first);
		ok = 0;
	}
	if (ok)
		gc_reason(run, "COMPLIANT", "output of %s %s /%s/ (first line "
		    "\"%s\")", c->argv[0], matched ? "matches" :
		    "does not match", c->regex_text, first);
	free(out);
	return ok;
}

const struct gc_type gc_type_command_output = {
	"command_output", "COMMAND_OUTPUT", sizeof(struct command_props),
	command_parse, command_free, command_test, NULL
};
