/* doc.h -- a parsed configuration document as the engine walks it: resources, their checks and audit conditions. */
#ifndef GC_DOC_H
#define GC_DOC_H

#include "resources.h"

/* A type and its parsed properties. */
struct gc_check {
	const struct gc_type	*type;
	void			*props;
};

enum gc_cond_kind {
	GC_COND_CHECK,		/* holds when the check's test does */
	GC_COND_ALLOF,		/* every kid holds (none: true) */
	GC_COND_ANYOF,		/* one kid holds at least */
	GC_COND_NOT		/* its one kid does not hold */
};

struct gc_cond {
	enum gc_cond_kind	 kind;
	struct gc_check		 check;		/* GC_COND_CHECK */
	struct gc_cond		**kids;
	size_t			 nkids;
};

struct gc_res {
	char			*id;
	char			*resource_id;	/* "[type]id" */
	char			*typename;	/* as written, "audit" when none */
	struct gc_check		 check;		/* type NULL: audit condition only */
	struct gc_cond		*audit;		/* NULL: none */
	char			*invalid;	/* why it cannot be evaluated, or NULL */
	const char		*invalid_code;
};

struct gc_doc {
	char			*name;
	struct gc_res		*res;
	size_t			 nres;
	size_t			 ninvalid;
};

#endif
