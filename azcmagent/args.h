/* args.h -- the command line as azcmagent reads it: long and short options anywhere, positionals, and the values that connect checks (tags, names). */
#ifndef ARGS_H
#define ARGS_H

#include <stddef.h>

#define ARGS_MAX_OPTS	32
#define ARGS_MAX_POS	8
#define ARGS_MAX_TAGS	50

enum args_kind {
	ARGS_FLAG,		/* --json: no value */
	ARGS_VALUE,		/* --config-dir DIR or --config-dir=DIR */
};

struct args_opt {
	const char	*name;		/* long name, without "--" */
	char		 short_name;	/* 'j' for -j, or 0 */
	enum args_kind	 kind;
};

struct args {
	const char	*value[ARGS_MAX_OPTS];	/* by table index; "" for a flag; NULL when absent */
	const char	*pos[ARGS_MAX_POS];	/* the words that are not options, in order */
	int		 npos;
};

struct args_tag {
	const char	*key;
	const char	*value;
};

struct args_tags {
	char		*buf;		/* the copy that key and value point into */
	struct args_tag	 tag[ARGS_MAX_TAGS];
	int		 n;
};

/*
 * Parses argv[1..argc-1] against table (ends with a NULL name).  Options may
 * come before or after the positionals; "--" ends the options.  A repeated
 * option keeps its last value.  -1 with err filled on an unknown option, a
 * missing value, a value given to a flag, or too many positionals.
 */
int	args_parse(int argc, char *const argv[], const struct args_opt *table,
	    struct args *, char *err, size_t errlen);
/* The index of name in table, or -1. */
int	args_index(const struct args_opt *table, const char *name);

/* "k=v,k2=v2" as Azure takes tags: keys unique (case-insensitive), 1-512
 * characters without <>%&\?/, values up to 256; at most ARGS_MAX_TAGS. */
int	args_tags_parse(const char *text, struct args_tags *, char *err,
	    size_t errlen);
void	args_tags_clear(struct args_tags *);

/* Resource names as the control plane takes them: [A-Za-z0-9][A-Za-z0-9-_.]{0,62}. */
int	args_name_ok(const char *name);
/* Azure locations: letters, digits, 1-64 of them ("eastus", "westeurope"). */
int	args_location_ok(const char *location);

#endif
