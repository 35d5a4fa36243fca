/* pkgstatement.h -- what a package's publisher signs: the package's identity (kind, publisher, type or name, version) and its file's SHA-256 and size, one canonical JSON text. */
#ifndef PKGSTATEMENT_H
#define PKGSTATEMENT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The CMS eContentType of a signed statement (an OID from a UUID, X.667):
 * the statement is the SignedData's own content, never a detached file, so
 * a signature made for anything else (the package bytes alone, as the old
 * format did, or another document by the same key) is not one.
 */
#define PKGSTATEMENT_OID	"2.25.130023046045524240137163432541421895587"
#define PKGSTATEMENT_MAX	4096	/* bytes of a statement */
#define PKGSTATEMENT_WORD_MAX	128	/* bytes of publisher, name, version */

/* Which kind of package: each names itself differently. */
enum pkg_kind {
	PKG_EXTENSION,		/* an extension handler; its name is its type */
	PKG_GUESTCONFIG,	/* a guest configuration; its configuration name */
};

/*
 * One statement:
 *   {"signingInfo":{"kind":"extension","publisher":"Contoso.Monitoring",
 *   "type":"CustomScript","version":"1.0"},"sha256":"<64 lower-case hex>",
 *   "size":1234}
 * with "kind":"guestconfiguration" and "name" in place of "type" for a
 * guest configuration.  Keys in that order, no white space, ASCII.  Each
 * word is 1-128 of [A-Za-z0-9._-] starting with a letter or digit.
 */
struct pkg_statement {
	enum pkg_kind		 kind;
	char			 publisher[PKGSTATEMENT_WORD_MAX + 1];
	char			 name[PKGSTATEMENT_WORD_MAX + 1];	/* the type, or the configuration */
	char			 version[PKGSTATEMENT_WORD_MAX + 1];
	char			 sha256[65];	/* lower-case hex */
	uint64_t		 size;		/* bytes of the package file */
};

/* "extension" or "guestconfiguration"; the key of its name ("type" or
 * "name"); and how a message calls that name ("type", "configuration"). */
const char	*pkgstatement_kind(enum pkg_kind);
const char	*pkgstatement_name_key(enum pkg_kind);
const char	*pkgstatement_name_what(enum pkg_kind);
/* The kind a label ("extension", "guestconfiguration") names: 0, or -1. */
int		 pkgstatement_kind_parse(const char *label, enum pkg_kind *kind);
/* Is s a word a statement may hold? */
int		 pkgstatement_word_ok(const char *s);
/*
 * The canonical text of st (malloc'd, *len bytes, NUL-terminated), or NULL
 * with err filled when a word or the digest is not one a statement holds
 * (the digest in either case; written in lower case).
 */
char		*pkgstatement_encode(const struct pkg_statement *st, size_t *len,
		    char *err, size_t errlen);
/*
 * Parses the signed text (len bytes) into st, strictly: a JSON object with
 * exactly the keys above for its kind, no duplicate, each value of its
 * type and form.  Order and white space are not checked (the bytes were
 * signed; nothing is re-encoded).  0, or -1 with err saying what is wrong.
 */
int		 pkgstatement_parse(const void *text, size_t len,
		    struct pkg_statement *st, char *err, size_t errlen);

#endif
