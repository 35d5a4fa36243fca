/* log.h -- small logging for the daemons: stderr in the foreground, syslog otherwise. */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void	log_init(const char *progname, int foreground, enum log_level level);
void	log_set_level(enum log_level level);
int	log_enabled(enum log_level level);

void	log_warn_(const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_warnx_(const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_info_(const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_debug_(const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	fatal_(const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
void	fatalx_(const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

/* Every line carries the function that wrote it. */
#define log_warn(...)	log_warn_(__func__, __VA_ARGS__)	/* appends errno */
#define log_warnx(...)	log_warnx_(__func__, __VA_ARGS__)
#define log_info(...)	log_info_(__func__, __VA_ARGS__)
#define log_debug(...)	do { if (log_enabled(LOG_LEVEL_DEBUG)) \
	log_debug_(__func__, __VA_ARGS__); } while (0)
#define fatal(...)	fatal_(__func__, __VA_ARGS__)		/* appends errno */
#define fatalx(...)	fatalx_(__func__, __VA_ARGS__)

#endif
