/* atomicfile.h -- state written so that a crash at any moment leaves the old file or the new one, never a mix. */
#ifndef ATOMICFILE_H
#define ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

/* Writes a temp file beside path, fsyncs it, renames it over path and
 * fsyncs the directory.  mode is the new file's permission bits. */
int	atomicfile_write(const char *path, const void *data, size_t len,
	    mode_t mode, char *err, size_t errlen);
/* Reads a whole file (at most max bytes) into a NUL-terminated buffer the
 * caller frees; NULL with err filled when it cannot. */
char	*atomicfile_read(const char *path, size_t max, size_t *len, char *err,
	    size_t errlen);

#endif
