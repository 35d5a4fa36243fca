/* strtrim.h -- white space off both ends of a string, in place: one definition for agent.conf's list entries and azcmagent's --tags. */
#ifndef STRTRIM_H
#define STRTRIM_H

#include <ctype.h>
#include <string.h>

/* s without its leading white space, its trailing white space cut off in
 * place (s is changed). */
static inline char *
strtrim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

#endif
