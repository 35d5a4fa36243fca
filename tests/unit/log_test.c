/* log_test.c -- a log line quotes what others sent: its control characters are written as \xNN, one message is one line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

/* What the logging calls of fn wrote on stderr (the foreground log). */
static char *
captured(void (*fn)(void))
{
	char	 path[] = "/tmp/log_test.XXXXXX", *text;
	FILE	*f;
	long	 len;
	int	 fd, saved;

	fflush(stderr);
	if ((fd = mkstemp(path)) == -1 || (saved = dup(2)) == -1)
		return NULL;
	unlink(path);
	dup2(fd, 2);
	log_init("log_test", 1, LOG_LEVEL_INFO);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	if (fread(text, 1, (size_t)len, f) != (size_t)len) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

static size_t
lines(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
peer_text(void)
{
	/* A close reason: OSC 0 (title), BEL, a forged line, a C1 CSI. */
	log_warnx("the peer closed the WebSocket (1000 bye\033]0;x\007\n"
	    "2026-01-01T00:00:00.000Z arcnotify info session: FORGED\r\302\233"
	    "2J)");
}

static void
escaped_on_one_line(void)
{
	char	*t = captured(peer_text);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(lines(t), 1);
	CU_ASSERT_PTR_NULL(strchr(t, '\033'));
	CU_ASSERT_PTR_NULL(strchr(t, '\007'));
	CU_ASSERT_PTR_NULL(strchr(t, '\r'));
	CU_ASSERT_PTR_NULL(strstr(t, "\302\233"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "bye\\x1b]0;x\\x07\\x0a2026-"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "FORGED\\x0d\\x9b2J)"));
	free(t);
}

static void
plain_and_utf8(void)
{
	errno = ENOENT;
	log_warn("caf\303\251 %s", "/etc/arc/agent.conf");
}

static void
plain_text_and_errno_kept(void)
{
	char	*t = captured(plain_and_utf8);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(lines(t), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, " warn plain_and_utf8: caf\303\251 "
	    "/etc/arc/agent.conf: No such file or directory\n"));
	free(t);
}

static void
long_message(void)
{
	char	big[3000];

	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
}

static void
all_escaped_message_fits(void)
{
	char	*t = captured(long_message);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(lines(t), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "\\x0a\\x0a"));
	free(t);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "control characters escaped, one line", escaped_on_one_line },
		{ "plain text, UTF-8 and errno kept", plain_text_and_errno_kept },
		{ "a message of line breaks only fits", all_escaped_message_fits },
		{ NULL, NULL }
	};

	return unit_main("log", tests);
}
