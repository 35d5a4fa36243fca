/* extmgr_handler_test.c -- the handler protocol with real processes: manifest and status errors, environment, settings and certificate files with their modes, planted symlinks refused, output tail, time limits that kill the whole group. */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "handler.h"
#include "prockill.h"
#include "manifest.h"
#include "unit.h"

#define GOOD_MANIFEST \
	"[{\"name\":\"Cloudsim.Samples.Hello\",\"version\":1.0,\"handlerManifest\":{" \
	"\"installCommand\":\"scripts/run.sh install\"," \
	"\"enableCommand\":\"scripts/run.sh enable\"," \
	"\"updateCommand\":\"scripts/run.sh update\"," \
	"\"disableCommand\":\"scripts/run.sh disable\"," \
	"\"uninstallCommand\":\"scripts/run.sh uninstall\"," \
	"\"reportHeartbeat\":\"True\",\"continueOnUpdateFailure\":true}}]"
#define THUMB	"0123456789ABCDEF0123456789ABCDEF01234567"

static char	 root[128];	/* this run's scratch directory */
static char	 certs_dir[200];	/* <root>/certs: handlers' certificates */
static int	 ext_n;		/* extension directories made so far */
static int	 close_stdio;	/* run_op_raw: close 0, 1, 2 before starting */
static const char *downgrade_to;	/* run_op_raw: an update that is a downgrade
				   to this version (1.0.0's update runs) */

/* The result a run's callback saw. */
struct got {
	int	 called;
	int	 exited, exit_status, term_signal, timed_out, code;
	long	 duration_ms;
	char	 message[512];
	char	*output;
	size_t	 output_len;
};

static void
put(const char *dir, const char *name, const char *text, mode_t mode)
{
	char	path[1024];
	int	fd;

	snprintf(path, sizeof(path), "%.700s/%.200s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

static char *
slurp(const char *dir, const char *name)
{
	char	 path[1024], *buf;
	FILE	*f;
	long	 n;

	snprintf(path, sizeof(path), "%.700s/%.200s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static mode_t
mode_of(const char *dir, const char *name)
{
	char		path[1024];
	struct stat	st;

	snprintf(path, sizeof(path), "%.700s/%.200s", dir, name);
	if (lstat(path, &st) == -1)
		return (mode_t)-1;
	return st.st_mode;
}

/* A fresh extension dir under root with scripts/run.sh, and its log dir. */
static int
new_ext(char *ext, size_t elen, char *logs, size_t llen)
{
	char	scripts[1024];

	ext_n++;
	snprintf(ext, elen, "%s/Cloudsim.Samples.Hello-1.%d", root, ext_n);
	snprintf(logs, llen, "%s/logs-%d", root, ext_n);
	CU_ASSERT_FATAL(mkdir(ext, 0755) == 0);
	snprintf(scripts, sizeof(scripts), "%.700s/scripts", ext);
	CU_ASSERT_FATAL(mkdir(scripts, 0755) == 0);
	put(scripts, "run.sh", "#!/bin/sh\necho \"run.sh $1 in $(pwd)\"\n",
	    0755);
	return open(ext, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
on_done(const struct handler_result *res, void *arg)
{
	struct got	*g = arg;

	g->called++;
	g->exited = res->exited;
	g->exit_status = res->exit_status;
	g->term_signal = res->term_signal;
	g->timed_out = res->timed_out;
	g->code = res->code;
	g->duration_ms = res->duration_ms;
	snprintf(g->message, sizeof(g->message), "%s", res->message);
	CU_ASSERT_EQUAL(strlen(res->output), res->output_len);
	g->output = strndup(res->output, res->output_len);
	g->output_len = res->output_len;
}

/* Runs one operation to its end on a loop of its own; -1 when it could not
 * start (err filled).  No CUnit assertion: the noexec test calls it in a
 * child process. */
static int
run_op_raw(enum manifest_op op, const char *cmd, const char *ext,
    const char *logs, int timeout, const char *const *extra, struct got *g,
    char *err, size_t errlen)
{
	struct handler_paths	 paths = { "Cloudsim.Samples.Hello", "1.0.0",
				    ext, logs, certs_dir };
	struct handler_job	 job;
	struct event_base	*base;
	struct handler_run	*run;

	memset(g, 0, sizeof(*g));
	memset(&job, 0, sizeof(job));
	job.op = op;
	job.command = cmd;
	job.paths = &paths;
	job.seq = 7;
	job.updating_from = op == MANIFEST_OP_UPDATE ? "0.9.0" : NULL;
	if (op == MANIFEST_OP_UPDATE && downgrade_to != NULL)
		job.updating_from = job.update_version = downgrade_to;
	job.timeout_seconds = timeout;
	job.extra_env = extra;
	if (mkdir(logs, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", logs, strerror(errno));
		return -1;
	}
	if ((base = event_base_new()) == NULL) {
		snprintf(err, errlen, "event_base_new");
		return -1;
	}
	if (close_stdio) {	/* handler_start's own fds take 0, 1 and 2 */
		close(0);
		close(1);
		close(2);
	}
	if ((run = handler_start(base, &job, on_done, g, err, errlen)) == NULL) {
		event_base_free(base);
		return -1;
	}
	if (g->called != 0) {
		snprintf(err, errlen, "callback from inside handler_start");
		return -1;
	}
	event_base_dispatch(base);
	event_base_free(base);
	return 0;
}

static void
run_op(enum manifest_op op, const char *cmd, const char *ext,
    const char *logs, int timeout, const char *const *extra, struct got *g)
{
	char	err[512];

	if (run_op_raw(op, cmd, ext, logs, timeout, extra, g, err,
	    sizeof(err)) == -1)
		fprintf(stderr, "handler_start: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(g->called, 1);
}

static int
manifest_in(const char *text, struct manifest **m, char *err, size_t errlen)
{
	char	ext[512], logs[512];
	int	fd, rc;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	if (text != NULL)
		put(ext, MANIFEST_FILE, text, 0644);
	rc = manifest_load(fd, m, err, errlen);
	close(fd);
	return rc;
}

static void
test_manifest(void)
{
	struct manifest	*m;
	char		 err[512], big[MANIFEST_MAX_BYTES + 64];

	CU_ASSERT_EQUAL_FATAL(manifest_in(GOOD_MANIFEST, &m, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(m->command[MANIFEST_OP_ENABLE], "scripts/run.sh enable");
	CU_ASSERT_STRING_EQUAL(m->command[MANIFEST_OP_UNINSTALL], "scripts/run.sh uninstall");
	CU_ASSERT_EQUAL(m->report_heartbeat, 1);	/* the string "True" */
	CU_ASSERT_EQUAL(m->continue_on_update_failure, 1);
	CU_ASSERT_EQUAL(m->supports_multiple_extensions, 0);
	CU_ASSERT_EQUAL(m->update_mode, MANIFEST_UPDATE_WITH_INSTALL);
	CU_ASSERT_STRING_EQUAL(m->name, "Cloudsim.Samples.Hello");
	manifest_free(m);

	CU_ASSERT_EQUAL(manifest_parse("[{\"handlerManifest\":{\"installCommand\":\"a\","
	    "\"enableCommand\":\"b\",\"updateCommand\":\"c\",\"disableCommand\":\"d\","
	    "\"uninstallCommand\":\"e\",\"updateMode\":\"updatewithoutinstall\","
	    "\"reportHeartbeat\":1}}]", 200, &m, err, sizeof(err)), MANIFEST_ERR_INVALID);
	/* 200 cut the text: not JSON. */
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not JSON"));
	{
		const char *t = "[{\"handlerManifest\":{\"installCommand\":\"a\","
		    "\"enableCommand\":\"b\",\"updateCommand\":\"c\",\"disableCommand\":\"d\","
		    "\"uninstallCommand\":\"e\",\"updateMode\":\"updatewithoutinstall\","
		    "\"reportHeartbeat\":1}}]";

		CU_ASSERT_EQUAL_FATAL(manifest_parse(t, strlen(t), &m, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(m->update_mode, MANIFEST_UPDATE_WITHOUT_INSTALL);
		CU_ASSERT_EQUAL(m->report_heartbeat, 0);	/* 1 is not a boolean */
		CU_ASSERT_PTR_NULL(m->name);
		manifest_free(m);
	}

	/* Missing: 1002. */
	CU_ASSERT_EQUAL(manifest_in(NULL, &m, err, sizeof(err)), MANIFEST_ERR_MISSING);
	CU_ASSERT_PTR_NULL(m);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "HandlerManifest.json"));
	/* Invalid: 1003, naming what is wrong. */
	CU_ASSERT_EQUAL(manifest_in("{not json", &m, err, sizeof(err)), MANIFEST_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not JSON"));
	CU_ASSERT_EQUAL(manifest_in("{}", &m, err, sizeof(err)), MANIFEST_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "array"));
	CU_ASSERT_EQUAL(manifest_in("[{\"handlerManifest\":{\"installCommand\":\"a\"}}]",
	    &m, err, sizeof(err)), MANIFEST_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "[0].handlerManifest.enableCommand: missing"));
	CU_ASSERT_EQUAL(manifest_in("[{\"handlerManifest\":{\"installCommand\":\"a\","
	    "\"enableCommand\":7}}]", &m, err, sizeof(err)), MANIFEST_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "enableCommand: not a string"));
	CU_ASSERT_EQUAL(manifest_in("[{\"handlerManifest\":{\"installCommand\":\"a\","
	    "\"enableCommand\":\"b\",\"updateCommand\":\"c\",\"disableCommand\":\"d\","
	    "\"uninstallCommand\":\"e\",\"updateMode\":\"Sometimes\"}}]", &m, err,
	    sizeof(err)), MANIFEST_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "updateMode"));
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, GOOD_MANIFEST, strlen(GOOD_MANIFEST));
	CU_ASSERT_EQUAL(manifest_in(big, &m, err, sizeof(err)), MANIFEST_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than"));
}

/* A manifest planted as a symlink (to a good one) is not followed. */
static void
test_manifest_symlink(void)
{
	struct manifest	*m;
	char		 ext[512], logs[512], err[512], target[1024], link[1024];
	int		 fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	put(root, "outside.json", GOOD_MANIFEST, 0644);
	snprintf(target, sizeof(target), "%.700s/outside.json", root);
	snprintf(link, sizeof(link), "%.700s/%.200s", ext, MANIFEST_FILE);
	CU_ASSERT_FATAL(symlink(target, link) == 0);
	CU_ASSERT_EQUAL(manifest_load(fd, &m, err, sizeof(err)), MANIFEST_ERR_MISSING);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	close(fd);
}

static void
test_status(void)
{
	struct manifest_status	*st;
	char			 ext[512], logs[512], sdir[1024], big[2000], text[3000];
	char			 path[1024], *huge;
	int			 fd, k, n;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	/* No status/ at all, then no file: transitioning, ours. */
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "transitioning");
	CU_ASSERT_EQUAL(st->from_handler, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(st->message, "status/3.status"));
	manifest_status_free(st);
	snprintf(sdir, sizeof(sdir), "%.700s/status", ext);
	CU_ASSERT_FATAL(mkdir(sdir, 0700) == 0);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "transitioning");
	manifest_status_free(st);

	/* The handler's error, reported as it wrote it. */
	put(sdir, "3.status", "[{\"version\":1.0,\"timestampUTC\":\"2026-12-05T20:00:00Z\","
	    "\"status\":{\"name\":\"Hello\",\"operation\":\"Enable\",\"status\":\"error\","
	    "\"code\":42,\"formattedMessage\":{\"lang\":\"en-US\",\"message\":\"disk full\"},"
	    "\"substatus\":[null,{\"name\":\"a\",\"status\":\"success\"}]}}]", 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "error");
	CU_ASSERT_EQUAL(st->code, 42);
	CU_ASSERT_STRING_EQUAL(st->message, "disk full");
	CU_ASSERT_STRING_EQUAL(st->operation, "Enable");
	CU_ASSERT_STRING_EQUAL(st->timestamp, "2026-12-05T20:00:00Z");
	CU_ASSERT_EQUAL(st->from_handler, 1);
	CU_ASSERT_EQUAL(json_array_size(st->substatus), 1);
	manifest_status_free(st);

	/* More substatus entries than a report carries: the first 32. */
	n = snprintf(text, sizeof(text), "[{\"status\":{\"status\":\"success\","
	    "\"substatus\":[");
	for (k = 0; k < 40; k++)
		n += snprintf(text + n, sizeof(text) - n, "%s{\"name\":\"s%d\","
		    "\"status\":\"success\"}", k ? "," : "", k);
	snprintf(text + n, sizeof(text) - n, "]}}]");
	put(sdir, "3.status", text, 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_EQUAL(json_array_size(st->substatus), MANIFEST_SUBSTATUS_MAX);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(
	    st->substatus, MANIFEST_SUBSTATUS_MAX - 1), "name")), "s31");
	manifest_status_free(st);

	/* A message past 1 KB is cut. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text), "[{\"status\":{\"status\":\"success\","
	    "\"formattedMessage\":{\"lang\":\"en\",\"message\":\"%s\"}}}]", big);
	put(sdir, "3.status", text, 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "success");
	CU_ASSERT(strlen(st->message) <= MANIFEST_STATUS_MAX_MESSAGE + 16);
	CU_ASSERT(strlen(st->message) >= MANIFEST_STATUS_MAX_MESSAGE);
	manifest_status_free(st);

	/* An unknown value is an error, as the VM agent makes it. */
	put(sdir, "3.status", "[{\"status\":{\"status\":\"done\"}}]", 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "error");
	manifest_status_free(st);

	/* HandlerUtil writes the code as a string: "0" is code 0, "-3" -3,
	 * in the status and in a substatus alike. */
	put(sdir, "3.status", "[{\"status\":{\"status\":\"success\",\"code\":\"0\","
	    "\"substatus\":[{\"status\":\"success\",\"code\":\"7\"}]}}]", 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "success");
	CU_ASSERT_EQUAL(st->code, 0);
	CU_ASSERT_EQUAL(st->from_handler, 1);
	manifest_status_free(st);
	put(sdir, "3.status", "[{\"status\":{\"status\":\"error\",\"code\":\"-3\"}}]", 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "error");
	CU_ASSERT_EQUAL(st->code, -3);
	CU_ASSERT_EQUAL(st->from_handler, 1);
	manifest_status_free(st);

	/* Malformed: error 1012 with the reason and the file.  A string that
	 * is not a decimal integer, and a type that is neither, are named. */
	put(sdir, "3.status", "[{\"status\":{\"status\":\"success\",\"code\":\"x\"}}]", 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "error");
	CU_ASSERT_EQUAL(st->code, MANIFEST_ERR_STATUS);
	CU_ASSERT_EQUAL(st->from_handler, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(st->message, "status/3.status"));
	CU_ASSERT_PTR_NOT_NULL(strstr(st->message,
	    "[0].status.code: \"x\" is not a decimal integer"));
	manifest_status_free(st);
	{
		static const struct {
			const char	*code;	/* the JSON value */
			const char	*why;	/* in the message */
		} bad[] = {
			{ "\" 0\"", "\" 0\" is not a decimal integer" },
			{ "\"0x10\"", "\"0x10\" is not a decimal integer" },
			{ "\"\"", "\"\" is not a decimal integer" },
			{ "\"99999999999\"", "out of range" },
			{ "99999999999", "out of range" },
			{ "1.5", "not an integer or a string of one" },
			{ "true", "not an integer or a string of one" },
			{ "[0]", "not an integer or a string of one" },
		};
		size_t	i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), "[{\"status\":{\"status\":"
			    "\"success\",\"code\":%s}}]", bad[i].code);
			put(sdir, "3.status", text, 0600);
			CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
			CU_ASSERT_EQUAL(st->code, MANIFEST_ERR_STATUS);
			CU_ASSERT_EQUAL(st->from_handler, 0);
			CU_ASSERT_PTR_NOT_NULL_FATAL(st->message);
			if (strstr(st->message, bad[i].why) == NULL)
				fprintf(stderr, "code %s: %s\n", bad[i].code,
				    st->message);
			CU_ASSERT_PTR_NOT_NULL(strstr(st->message, bad[i].why));
			manifest_status_free(st);
		}
	}
	put(sdir, "3.status", "[{\"status\":{\"status\":\"success\",\"substatus\":"
	    "[{\"status\":\"success\",\"code\":\"ok\"}]}}]", 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_EQUAL(st->code, MANIFEST_ERR_STATUS);
	CU_ASSERT_PTR_NOT_NULL(strstr(st->message,
	    "[0].status.substatus[0].code: \"ok\" is not a decimal integer"));
	manifest_status_free(st);
	put(sdir, "3.status", "[{\"status\":", 0600);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "error");
	CU_ASSERT_PTR_NOT_NULL(strstr(st->message, "not JSON"));
	manifest_status_free(st);

	/* Past 128 KB: refused, never read whole. */
	huge = malloc(MANIFEST_STATUS_MAX_BYTES + 100);
	memset(huge, ' ', MANIFEST_STATUS_MAX_BYTES + 99);
	huge[MANIFEST_STATUS_MAX_BYTES + 99] = '\0';
	memcpy(huge, "[{\"status\":{\"status\":\"success\"}}]", 33);
	put(sdir, "3.status", huge, 0600);
	free(huge);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 3, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "error");
	CU_ASSERT_PTR_NOT_NULL(strstr(st->message, "more than"));
	manifest_status_free(st);

	/* A symlink at status/<seq>.status to a good status is not followed. */
	put(root, "good.status", "[{\"status\":{\"status\":\"success\"}}]", 0644);
	snprintf(path, sizeof(path), "%.700s/4.status", sdir);
	snprintf(text, sizeof(text), "%.700s/good.status", root);
	CU_ASSERT_FATAL(symlink(text, path) == 0);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 4, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "error");
	CU_ASSERT_PTR_NOT_NULL(strstr(st->message, "symbolic link"));
	manifest_status_free(st);
	close(fd);

	/* status/ itself a symlink to a dir holding a good status. */
	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	snprintf(sdir, sizeof(sdir), "%.700s/elsewhere", root);
	CU_ASSERT_FATAL(mkdir(sdir, 0700) == 0);
	put(sdir, "0.status", "[{\"status\":{\"status\":\"success\"}}]", 0644);
	snprintf(path, sizeof(path), "%.700s/status", ext);
	CU_ASSERT_FATAL(symlink(sdir, path) == 0);
	CU_ASSERT_EQUAL_FATAL(manifest_status_read(fd, 0, &st), 0);
	CU_ASSERT_STRING_EQUAL(st->status, "error");
	CU_ASSERT_PTR_NOT_NULL(strstr(st->message, "symbolic link"));
	manifest_status_free(st);
	close(fd);
}

static void
test_heartbeat(void)
{
	struct manifest_heartbeat	*hb;
	struct timespec			 old[2];
	char				 ext[512], logs[512];
	int				 fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	CU_ASSERT_EQUAL_FATAL(manifest_heartbeat_read(fd, time(NULL),
	    MANIFEST_HEARTBEAT_STALE, &hb), 0);
	CU_ASSERT_STRING_EQUAL(hb->status, "error");
	CU_ASSERT_EQUAL(hb->responsive, 0);
	manifest_heartbeat_free(hb);
	put(ext, MANIFEST_HEARTBEAT_FILE, "[{\"version\":1.0,\"heartbeat\":{\"status\":"
	    "\"ready\",\"code\":0,\"formattedMessage\":{\"lang\":\"en\",\"message\":"
	    "\"all good\"}}}]", 0644);
	CU_ASSERT_EQUAL_FATAL(manifest_heartbeat_read(fd, time(NULL),
	    MANIFEST_HEARTBEAT_STALE, &hb), 0);
	CU_ASSERT_STRING_EQUAL(hb->status, "ready");
	CU_ASSERT_STRING_EQUAL(hb->message, "all good");
	CU_ASSERT_EQUAL(hb->responsive, 1);
	manifest_heartbeat_free(hb);
	/* 601 s old: unresponsive. */
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 601;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	CU_ASSERT_FATAL(utimensat(fd, MANIFEST_HEARTBEAT_FILE, old, 0) == 0);
	CU_ASSERT_EQUAL_FATAL(manifest_heartbeat_read(fd, time(NULL),
	    MANIFEST_HEARTBEAT_STALE, &hb), 0);
	CU_ASSERT_STRING_EQUAL(hb->status, "Unresponsive");
	CU_ASSERT_EQUAL(hb->code, -1);
	CU_ASSERT_EQUAL(hb->responsive, 0);
	manifest_heartbeat_free(hb);
	/* The limit is the caller's (extmgr.conf heartbeat_stale_seconds). */
	CU_ASSERT_EQUAL_FATAL(manifest_heartbeat_read(fd, time(NULL), 900,
	    &hb), 0);
	CU_ASSERT_STRING_EQUAL(hb->status, "ready");
	CU_ASSERT_EQUAL(hb->responsive, 1);
	manifest_heartbeat_free(hb);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 10;
	CU_ASSERT_FATAL(utimensat(fd, MANIFEST_HEARTBEAT_FILE, old, 0) == 0);
	CU_ASSERT_EQUAL_FATAL(manifest_heartbeat_read(fd, time(NULL), 5, &hb),
	    0);
	CU_ASSERT_STRING_EQUAL(hb->status, "Unresponsive");
	CU_ASSERT_STRING_EQUAL(hb->message,
	    "Extension heartbeat is not responsive");
	manifest_heartbeat_free(hb);
	put(ext, MANIFEST_HEARTBEAT_FILE, "[{\"beat\":1}]", 0644);
	CU_ASSERT_EQUAL_FATAL(manifest_heartbeat_read(fd, time(NULL),
	    MANIFEST_HEARTBEAT_STALE, &hb), 0);
	CU_ASSERT_STRING_EQUAL(hb->status, "error");
	CU_ASSERT_PTR_NOT_NULL(strstr(hb->message, "malformed"));
	manifest_heartbeat_free(hb);
	close(fd);
}

static void
test_environment(void)
{
	struct handler_paths	 p = { "Cloudsim.Samples.Hello", "1.0.0", NULL, NULL,
				    NULL };
	json_t			*doc, *he;
	json_error_t		 jerr;
	char			 ext[512], logs[512], err[512], *text, path[1024];
	char			 elsewhere[1024];
	int			 fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	p.ext_dir = ext;
	p.log_dir = logs;
	CU_ASSERT_EQUAL_FATAL(handler_write_environment(fd, &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(mode_of(ext, "config") & 07777, 0700);
	CU_ASSERT_TRUE(S_ISDIR(mode_of(ext, "config")));
	CU_ASSERT_EQUAL(mode_of(ext, "status") & 07777, 0700);
	CU_ASSERT_TRUE(S_ISDIR(mode_of(root, logs + strlen(root) + 1)));
	text = slurp(ext, HANDLER_ENV_FILE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"version\":1.0"));
	doc = json_loads(text, 0, &jerr);
	free(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(doc, 0),
	    "name")), "Cloudsim.Samples.Hello");
	he = json_object_get(json_array_get(doc, 0), "handlerEnvironment");
	snprintf(path, sizeof(path), "%.700s/config", ext);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(he, "configFolder")), path);
	snprintf(path, sizeof(path), "%.700s/status", ext);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(he, "statusFolder")), path);
	snprintf(path, sizeof(path), "%.700s/heartbeat.log", ext);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(he, "heartbeatFile")), path);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(he, "logFolder")), logs);
	json_decref(doc);
	close(fd);

	/* A symlink planted at config/: refused, nothing made through it. */
	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	p.ext_dir = ext;
	p.log_dir = logs;
	snprintf(elsewhere, sizeof(elsewhere), "%.700s/planted-%d", root, ext_n);
	CU_ASSERT_FATAL(mkdir(elsewhere, 0755) == 0);
	snprintf(path, sizeof(path), "%.700s/config", ext);
	CU_ASSERT_FATAL(symlink(elsewhere, path) == 0);
	CU_ASSERT_EQUAL(handler_write_environment(fd, &p, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	CU_ASSERT_EQUAL(mode_of(root, strrchr(elsewhere, '/') + 1) & 07777, 0755);
	close(fd);
}

static void
test_settings(void)
{
	struct handler_paths	 p = { "Cloudsim.Samples.Hello", "1.0.0", NULL, NULL,
				    NULL };
	json_t			*pub, *doc, *hs;
	char			 ext[512], logs[512], err[512], cfg[1024], *text;
	char			 elsewhere[1024], path[1024];
	int			 fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	p.ext_dir = ext;
	p.log_dir = logs;
	CU_ASSERT_EQUAL_FATAL(handler_write_environment(fd, &p, err, sizeof(err)), 0);
	pub = json_pack("{s:s, s:i}", "greeting", "hello", "count", 3);
	CU_ASSERT_EQUAL_FATAL(handler_write_settings(fd, 5, pub, "MIIBbase64==",
	    THUMB, err, sizeof(err)), 0);
	snprintf(cfg, sizeof(cfg), "%.700s/config", ext);
	CU_ASSERT_EQUAL(mode_of(cfg, "5.settings") & 07777, 0600);
	text = slurp(cfg, "5.settings");
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	doc = json_loads(text, 0, NULL);
	free(text);
	hs = json_object_get(json_array_get(json_object_get(doc, "runtimeSettings"), 0),
	    "handlerSettings");
	CU_ASSERT_TRUE(json_equal(json_object_get(hs, "publicSettings"), pub));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(hs,
	    "protectedSettings")), "MIIBbase64==");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(hs,
	    "protectedSettingsCertThumbprint")), THUMB);
	json_decref(doc);

	/* No settings at all: publicSettings {} and nothing protected. */
	CU_ASSERT_EQUAL_FATAL(handler_write_settings(fd, 0, NULL, NULL, NULL, err,
	    sizeof(err)), 0);
	text = slurp(cfg, "0.settings");
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text, "{\"runtimeSettings\":[{\"handlerSettings\":"
	    "{\"publicSettings\":{}}}]}");
	free(text);
	/* Every new sequence number is a new file: only the newest few
	 * stay, whatever order the cloud sends them in. */
	{
		DIR		*d;
		struct dirent	*e;
		long		 seqs[] = { 40, 3, 7, 100, 1, 2, 50, 60, 61, 62,
				    63, 64, 65, 66, 67, 68, 69, 70, 99, 98, 97 };
		size_t		 i, count = 0;

		for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
			CU_ASSERT_EQUAL_FATAL(handler_write_settings(fd,
			    seqs[i], pub, NULL, NULL, err, sizeof(err)), 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d = opendir(cfg));
		while ((e = readdir(d)) != NULL)
			if (strstr(e->d_name, ".settings") != NULL)
				count++;
		closedir(d);
		CU_ASSERT_EQUAL(count, HANDLER_SETTINGS_KEEP + 1);
		/* the one just written, and the 8 highest before it */
		CU_ASSERT_EQUAL(mode_of(cfg, "97.settings") & 07777, 0600);
		CU_ASSERT_EQUAL(mode_of(cfg, "100.settings") & 07777, 0600);
		CU_ASSERT_EQUAL(mode_of(cfg, "66.settings") & 07777, 0600);
		CU_ASSERT_EQUAL(mode_of(cfg, "65.settings"), (mode_t)-1);
		CU_ASSERT_EQUAL(mode_of(cfg, "5.settings"), (mode_t)-1);
	}
	/* Protected settings need a real thumbprint. */
	CU_ASSERT_EQUAL(handler_write_settings(fd, 6, pub, "MIIB", "abc", err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "thumbprint"));
	close(fd);

	/* A symlink at config/ after the environment was written. */
	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	snprintf(elsewhere, sizeof(elsewhere), "%.700s/planted-%d", root, ext_n);
	CU_ASSERT_FATAL(mkdir(elsewhere, 0755) == 0);
	snprintf(path, sizeof(path), "%.700s/config", ext);
	CU_ASSERT_FATAL(symlink(elsewhere, path) == 0);
	CU_ASSERT_EQUAL(handler_write_settings(fd, 1, pub, NULL, NULL, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	CU_ASSERT_EQUAL(mode_of(elsewhere, "1.settings"), (mode_t)-1);
	json_decref(pub);
	close(fd);
}

/*
 * status/<n>.status is the handler's, one per sequence number: a new
 * sequence number's settings leave only the 8 highest others beside it, as
 * in config/.  status/ is the handler's to write, so a symlink there is
 * removed, never followed, and a symlinked status/ is left alone.
 */
static void
test_status_prune(void)
{
	struct handler_paths	 p = { "Cloudsim.Samples.Hello", "1.0.0", NULL, NULL,
				    NULL };
	char			 ext[512], logs[512], err[512], st[1024], name[64];
	char			 elsewhere[1024], target[1024], path[1024];
	DIR			*d;
	struct dirent		*e;
	size_t			 count = 0;
	int			 fd, i;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	p.ext_dir = ext;
	p.log_dir = logs;
	CU_ASSERT_EQUAL_FATAL(handler_write_environment(fd, &p, err, sizeof(err)), 0);
	snprintf(st, sizeof(st), "%.700s/status", ext);
	for (i = 3; i < 30; i++) {
		snprintf(name, sizeof(name), "%d.status", i);
		put(st, name, "[]", 0600);
	}
	put(st, "notes.txt", "kept", 0600);
	snprintf(elsewhere, sizeof(elsewhere), "%.700s/outside-%d", root, ext_n);
	CU_ASSERT_FATAL(mkdir(elsewhere, 0755) == 0);
	put(elsewhere, "2.status", "not extmgr's", 0600);
	snprintf(target, sizeof(target), "%.900s/2.status", elsewhere);
	snprintf(path, sizeof(path), "%.900s/2.status", st);
	CU_ASSERT_FATAL(symlink(target, path) == 0);
	CU_ASSERT_EQUAL_FATAL(handler_write_settings(fd, 30, NULL, NULL, NULL, err,
	    sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d = opendir(st));
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".status") != NULL)
			count++;
	closedir(d);
	CU_ASSERT_EQUAL(count, HANDLER_SETTINGS_KEEP);
	CU_ASSERT_TRUE(S_ISREG(mode_of(st, "29.status")));
	CU_ASSERT_TRUE(S_ISREG(mode_of(st, "22.status")));
	CU_ASSERT_EQUAL(mode_of(st, "21.status"), (mode_t)-1);
	CU_ASSERT_EQUAL(mode_of(st, "2.status"), (mode_t)-1);
	CU_ASSERT_TRUE(S_ISREG(mode_of(st, "notes.txt")));
	CU_ASSERT_TRUE(S_ISREG(mode_of(elsewhere, "2.status")));
	close(fd);

	/* status/ a symlink: the settings are written, nothing is removed. */
	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	p.ext_dir = ext;
	p.log_dir = logs;
	CU_ASSERT_EQUAL_FATAL(handler_write_environment(fd, &p, err, sizeof(err)), 0);
	snprintf(st, sizeof(st), "%.700s/status", ext);
	CU_ASSERT_FATAL(rmdir(st) == 0);
	CU_ASSERT_FATAL(symlink(elsewhere, st) == 0);
	put(elsewhere, "1.status", "not extmgr's", 0600);
	CU_ASSERT_EQUAL(handler_write_settings(fd, 40, NULL, NULL, NULL, err,
	    sizeof(err)), 0);
	CU_ASSERT_TRUE(S_ISREG(mode_of(elsewhere, "1.status")));
	CU_ASSERT_TRUE(S_ISREG(mode_of(elsewhere, "2.status")));
	close(fd);
}

/* A child in a session of its own, sleeping; with env (NULL: none).  It
 * returns once the child runs sleep (its environment is then env): a
 * loaded machine may take longer than any fixed pause. */
static pid_t
sleeper(char *const env[])
{
	char	path[64], comm[32];
	FILE	*f;
	pid_t	pid;
	int	i;

	if ((pid = fork()) == 0) {
		setsid();
		execle("/bin/sleep", "sleep", "600", (char *)NULL,
		    env != NULL ? env : (char *const[]){ NULL });
		_exit(127);
	}
	CU_ASSERT_FATAL(pid > 0);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	for (i = 0; i < 500; i++) {
		comm[0] = '\0';
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(comm, sizeof(comm), f) == NULL)
				comm[0] = '\0';
			fclose(f);
		}
		if (strcmp(comm, "sleep\n") == 0)
			break;
		usleep(10000);
	}
	return pid;
}

/* 1 when pid (our child) was killed by SIGKILL within ~2 s, 0 alive. */
static int
killed(pid_t pid)
{
	int	status, i;

	for (i = 0; i < 200; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		usleep(10000);
	}
	return 0;
}

/*
 * A record left in runs/ by a dead pass: its group is killed only while its
 * leader is the same process (start time); a pid now another process's is
 * left alone and only what carries the mark is killed.
 */
static void
test_leftover_records(void)
{
	static const char	 mark[] = "ARC_EXTMGR_RUN=0123456789abcdef0123456789abcdef";
	unsigned long long	 start;
	char			 dir[512], text[256];
	pid_t			 other, marked, leader;
	int			 fd, status;

	snprintf(dir, sizeof(dir), "%s/runs", root);
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	CU_ASSERT_FATAL((fd = open(dir, O_RDONLY | O_DIRECTORY)) != -1);

	/* The pid is another process's now (another start time). */
	other = sleeper(NULL);
	usleep(50000);
	CU_ASSERT_EQUAL_FATAL(prockill_starttime(other, &start), 0);
	snprintf(text, sizeof(text), "%d %llu %s\n", (int)other, start + 1, mark);
	put(dir, "Cloudsim.Samples.Hello", text, 0600);
	put(dir, "Broken.Record", "12 x\n", 0600);
	CU_ASSERT_EQUAL(handler_kill_leftovers(fd, NULL, NULL), 1);
	CU_ASSERT_EQUAL(mode_of(dir, "Cloudsim.Samples.Hello"), (mode_t)-1);
	CU_ASSERT_EQUAL(mode_of(dir, "Broken.Record"), (mode_t)-1);
	CU_ASSERT_EQUAL(waitpid(other, &status, WNOHANG), 0);

	/* The same process: its group goes. */
	leader = sleeper(NULL);
	usleep(50000);
	CU_ASSERT_EQUAL_FATAL(prockill_starttime(leader, &start), 0);
	snprintf(text, sizeof(text), "%d %llu %s\n", (int)leader, start, mark);
	put(dir, "Cloudsim.Samples.Hello", text, 0600);
	CU_ASSERT_EQUAL(handler_kill_leftovers(fd, NULL, NULL), 1);
	CU_ASSERT_TRUE(killed(leader));
	CU_ASSERT_EQUAL(waitpid(other, &status, WNOHANG), 0);

	/* The leader gone (reaped): what carries the mark goes, only that. */
	marked = sleeper((char *const[]){ (char *)mark, NULL });
	usleep(50000);
	snprintf(text, sizeof(text), "%d %llu %s\n", (int)leader, start, mark);
	put(dir, "Cloudsim.Samples.Hello", text, 0600);
	CU_ASSERT_EQUAL(handler_kill_leftovers(fd, NULL, NULL), 1);
	CU_ASSERT_TRUE(killed(marked));
	CU_ASSERT_EQUAL(waitpid(other, &status, WNOHANG), 0);
	kill(other, SIGKILL);
	waitpid(other, &status, 0);
	close(fd);
}

/* While the shell runs its record is in runs_dir; once it exits, gone. */
static void
test_run_record(void)
{
	struct handler_paths	 paths = { "Cloudsim.Samples.Hello", "1.0.0",
				    NULL, NULL, certs_dir };
	struct handler_job	 job;
	struct event_base	*base;
	struct handler_run	*run;
	struct got		 g;
	char			 ext[512], logs[512], runs[512], err[512];
	char			 cmd[2048], *text;
	int			 fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	close(fd);
	CU_ASSERT_FATAL(mkdir(logs, 0700) == 0);
	snprintf(runs, sizeof(runs), "%s/runs-%d", root, ext_n);
	CU_ASSERT_FATAL(mkdir(runs, 0700) == 0);
	/* The shell copies its own record: it ran after it was written. */
	snprintf(cmd, sizeof(cmd), "cp '%.500s/Cloudsim.Samples.Hello' "
	    "'%.500s/seen' && grep -q \"$ARC_EXTMGR_RUN\" '%.500s/seen'", runs, logs,
	    logs);
	paths.ext_dir = ext;
	paths.log_dir = logs;
	memset(&job, 0, sizeof(job));
	memset(&g, 0, sizeof(g));
	job.op = MANIFEST_OP_ENABLE;
	job.command = cmd;
	job.paths = &paths;
	job.timeout_seconds = 30;
	job.runs_dir = runs;
	CU_ASSERT_PTR_NOT_NULL_FATAL(base = event_base_new());
	run = handler_start(base, &job, on_done, &g, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(run);
	event_base_dispatch(base);
	event_base_free(base);
	CU_ASSERT_EQUAL(g.called, 1);
	CU_ASSERT_EQUAL(g.exit_status, 0);
	free(g.output);
	CU_ASSERT_EQUAL(mode_of(runs, "Cloudsim.Samples.Hello"), (mode_t)-1);
	text = slurp(logs, "seen");
	CU_ASSERT_PTR_NOT_NULL(text);
	if (text != NULL)
		CU_ASSERT_PTR_NOT_NULL(strstr(text, " ARC_EXTMGR_RUN="));
	free(text);
}

static void
test_certificates(void)
{
	char		 certs[1024], err[512], name[128], outside[1024], link[1024];
	char		*text;
	struct stat	 before, after;
	int		 cfd;

	snprintf(certs, sizeof(certs), "%s", certs_dir);
	cfd = handler_certs_dir_open(certs, err, sizeof(err));
	CU_ASSERT_FATAL(cfd != -1);
	CU_ASSERT_EQUAL(mode_of(root, "certs") & 07777, 0700);
	/* A symlink planted at <THUMB>.crt is replaced, its target untouched. */
	put(root, "victim", "do not touch", 0644);
	snprintf(outside, sizeof(outside), "%.700s/victim", root);
	snprintf(link, sizeof(link), "%.700s/%s.crt", certs, THUMB);
	CU_ASSERT_FATAL(symlink(outside, link) == 0);
	CU_ASSERT_EQUAL_FATAL(handler_place_certificate(cfd, THUMB, "CERT PEM\n", 9,
	    "KEY PEM\n", 8, err, sizeof(err)), 0);
	snprintf(name, sizeof(name), "%s.crt", THUMB);
	CU_ASSERT_TRUE(S_ISREG(mode_of(certs, name)));
	CU_ASSERT_EQUAL(mode_of(certs, name) & 07777, 0600);
	text = slurp(certs, name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text, "CERT PEM\n");
	free(text);
	text = slurp(root, "victim");
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text, "do not touch");
	free(text);
	snprintf(name, sizeof(name), "%s.prv", THUMB);
	CU_ASSERT_EQUAL(mode_of(certs, name) & 07777, 0600);
	text = slurp(certs, name);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text, "KEY PEM\n");
	free(text);
	/* The same again: left alone (same inode). */
	snprintf(link, sizeof(link), "%.700s/%.200s", certs, name);
	CU_ASSERT_FATAL(stat(link, &before) == 0);
	CU_ASSERT_EQUAL(handler_place_certificate(cfd, THUMB, "CERT PEM\n", 9,
	    "KEY PEM\n", 8, err, sizeof(err)), 0);
	CU_ASSERT_FATAL(stat(link, &after) == 0);
	CU_ASSERT_EQUAL(before.st_ino, after.st_ino);
	CU_ASSERT_EQUAL(handler_place_certificate(cfd, "../../etc/passwd", "C", 1,
	    "K", 1, err, sizeof(err)), -1);
	close(cfd);
}

/* Runs cmd in dir with sh; its stdout (first line) in out. */
static int
shell_line(const char *dir, const char *cmd, char *out, size_t len)
{
	char	 full[4096];
	FILE	*p;
	int	 ok;

	snprintf(full, sizeof(full), "cd '%s' && %s", dir, cmd);
	if ((p = popen(full, "r")) == NULL)
		return -1;
	ok = fgets(out, (int)len, p) != NULL;
	if (pclose(p) != 0 || !ok)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/*
 * End to end as a real extension does it (Utils/HandlerUtil.py): the
 * settings' protectedSettings, base64 DER CMS to the settings certificate,
 * decrypted by the handler with `openssl cms -decrypt -recip <THUMB>.crt
 * -inkey <THUMB>.prv` from the certificates dir it is told.
 */
static void
test_protected_settings_decrypt(void)
{
	static const char *const keys[] = { "ec -pkeyopt ec_paramgen_curve:P-256",
					    "rsa:2048", NULL };
	char		 ext[512], logs[512], err[512], cmd[2048], thumb[128];
	char		 b64[4096], *crt, *prv;
	json_t		*pub;
	struct got	 g;
	int		 fd, cfd, i;

	for (i = 0; keys[i] != NULL; i++) {
		fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
		snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey %s -nodes "
		    "-subj /CN=extmgr-settings -days 2 -keyout key.pem -out "
		    "cert.pem 2>/dev/null && openssl x509 -in cert.pem -noout "
		    "-fingerprint -sha1 | sed 's/.*=//; s/://g'", keys[i]);
		CU_ASSERT_EQUAL_FATAL(shell_line(root, cmd, thumb, sizeof(thumb)), 0);
		CU_ASSERT_EQUAL_FATAL(strlen(thumb), 40);
		CU_ASSERT_EQUAL_FATAL(shell_line(root, "printf '{\"password\":"
		    "\"s3cr3t\"}' | openssl cms -encrypt -binary -aes256 -outform "
		    "DER cert.pem | base64 -w0", b64, sizeof(b64)), 0);
		crt = slurp(root, "cert.pem");
		prv = slurp(root, "key.pem");
		CU_ASSERT_FATAL(crt != NULL && prv != NULL);
		cfd = handler_certs_dir_open(certs_dir, err, sizeof(err));
		CU_ASSERT_FATAL(cfd != -1);
		CU_ASSERT_EQUAL_FATAL(handler_place_certificate(cfd, thumb, crt,
		    strlen(crt), prv, strlen(prv), err, sizeof(err)), 0);
		close(cfd);
		free(crt);
		free(prv);
		{
			struct handler_paths p = { "Cloudsim.Samples.Hello",
			    "1.0.0", ext, logs, certs_dir };

			CU_ASSERT_EQUAL_FATAL(handler_write_environment(fd, &p,
			    err, sizeof(err)), 0);
		}
		pub = json_pack("{s:s}", "user", "alice");
		CU_ASSERT_EQUAL_FATAL(handler_write_settings(fd, 7, pub, b64, thumb,
		    err, sizeof(err)), 0);
		json_decref(pub);
		/* What HandlerUtil._parse_config does, in sh and python3. */
		put(ext, "enable.sh", "#!/bin/sh\n"
		    "s=config/$ConfigSequenceNumber.settings\n"
		    "get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))"
		    "[\"runtimeSettings\"][0][\"handlerSettings\"][sys.argv[2]])' \"$s\" \"$1\"; }\n"
		    "t=$(get protectedSettingsCertThumbprint)\n"
		    "get protectedSettings | base64 -d | openssl cms -decrypt -inform DER "
		    "-recip \"$ARC_EXTENSION_CERTS_DIR/$t.crt\" "
		    "-inkey \"$ARC_EXTENSION_CERTS_DIR/$t.prv\"; echo\n"
		    "get publicSettings\n", 0755);
		run_op(MANIFEST_OP_ENABLE, "enable.sh", ext, logs, 30, NULL, &g);
		CU_ASSERT_EQUAL(g.code, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "{\"password\":\"s3cr3t\"}\n"));
		CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "{'user': 'alice'}"));
		if (g.code != 0)
			fprintf(stderr, "%s\n", g.output);
		free(g.output);
		close(fd);
	}
}

/* The upgrade's status copy: status files only, never through a symlink. */
/*
 * After unpacking, as the VM agent's initialize does: every file gets
 * S_IXUSR (a zip made on Windows has no mode bits); a symlink is neither
 * changed nor followed, and what it points to keeps its mode.
 */
static void
test_make_executable(void)
{
	char	ext[512], logs[512], err[512], deep[1024], path[1024];
	char	target[1024];
	int	fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	put(ext, "install.sh", "#!/bin/sh\nexit 0\n", 0644);
	put(ext, "none", "x", 0);
	put(ext, "HandlerManifest.json", GOOD_MANIFEST, 0600);
	snprintf(deep, sizeof(deep), "%.700s/a", ext);
	CU_ASSERT_FATAL(mkdir(deep, 0755) == 0);
	snprintf(deep, sizeof(deep), "%.700s/a/b", ext);
	CU_ASSERT_FATAL(mkdir(deep, 0755) == 0);
	put(deep, "tool", "#!/bin/sh\n", 0640);
	put(root, "outside-exec", "not ours", 0644);
	snprintf(target, sizeof(target), "%.700s/outside-exec", root);
	snprintf(path, sizeof(path), "%.700s/link", deep);
	CU_ASSERT_FATAL(symlink(target, path) == 0);
	snprintf(path, sizeof(path), "%.700s/fifo", ext);
	CU_ASSERT_FATAL(mkfifo(path, 0644) == 0);

	CU_ASSERT_EQUAL_FATAL(handler_make_executable(fd, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(mode_of(ext, "install.sh") & 07777, 0744);
	CU_ASSERT_EQUAL(mode_of(ext, "none") & 07777, 0100);
	CU_ASSERT_EQUAL(mode_of(ext, "HandlerManifest.json") & 07777, 0700);
	CU_ASSERT_EQUAL(mode_of(ext, "scripts/run.sh") & 07777, 0755);
	CU_ASSERT_EQUAL(mode_of(deep, "tool") & 07777, 0740);
	CU_ASSERT(S_ISLNK(mode_of(deep, "link")));
	CU_ASSERT_EQUAL(mode_of(root, "outside-exec") & 07777, 0644);
	CU_ASSERT_EQUAL(mode_of(ext, "fifo") & 07777, 0644);	/* not a file */
	CU_ASSERT_EQUAL(mode_of(ext, "a") & 07777, 0755);
	/* Again: nothing left to change, still 0. */
	CU_ASSERT_EQUAL(handler_make_executable(fd, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(mode_of(ext, "install.sh") & 07777, 0744);
	close(fd);
}

static void
test_copy_status(void)
{
	char	 oldx[512], newx[512], logs[512], err[512], sdir[1024], path[1024];
	char	 target[1024], *text;
	int	 ofd, nfd;

	ofd = new_ext(oldx, sizeof(oldx), logs, sizeof(logs));
	nfd = new_ext(newx, sizeof(newx), logs, sizeof(logs));
	/* No old status/: nothing to copy, no error. */
	CU_ASSERT_EQUAL(handler_copy_status(ofd, nfd, err, sizeof(err)), 0);
	snprintf(sdir, sizeof(sdir), "%.700s/status", oldx);
	CU_ASSERT_FATAL(mkdir(sdir, 0700) == 0);
	put(sdir, "0.status", "[{\"status\":{\"status\":\"success\"}}]", 0644);
	put(sdir, "1.status", "[{\"status\":{\"status\":\"error\"}}]", 0644);
	put(sdir, "notes.txt", "not a status", 0644);
	put(root, "secret", "[{\"status\":{\"status\":\"secret\"}}]", 0600);
	snprintf(target, sizeof(target), "%.700s/secret", root);
	snprintf(path, sizeof(path), "%.700s/2.status", sdir);
	CU_ASSERT_FATAL(symlink(target, path) == 0);
	CU_ASSERT_EQUAL_FATAL(handler_copy_status(ofd, nfd, err, sizeof(err)), 0);
	snprintf(sdir, sizeof(sdir), "%.700s/status", newx);
	CU_ASSERT_EQUAL(mode_of(newx, "status") & 07777, 0700);
	text = slurp(sdir, "1.status");
	CU_ASSERT_PTR_NOT_NULL(text);
	CU_ASSERT_PTR_NOT_NULL(text != NULL ? strstr(text, "error") : NULL);
	free(text);
	CU_ASSERT_EQUAL(mode_of(sdir, "0.status") & 07777, 0600);
	CU_ASSERT_EQUAL(mode_of(sdir, "2.status"), (mode_t)-1);
	/* Every file of status/, as the VM agent copies it. */
	CU_ASSERT_EQUAL(mode_of(sdir, "notes.txt") & 07777, 0600);
	/* No old mrseq: none in the new dir either. */
	CU_ASSERT_EQUAL(mode_of(newx, "mrseq"), (mode_t)-1);
	close(nfd);

	/* mrseq goes with status/; a symlink planted at the new one is
	 * replaced, and what it pointed to is untouched. */
	nfd = new_ext(newx, sizeof(newx), logs, sizeof(logs));
	put(oldx, "mrseq", "5", 0644);
	put(root, "mrseq-target", "untouched", 0644);
	snprintf(target, sizeof(target), "%.700s/mrseq-target", root);
	snprintf(path, sizeof(path), "%.700s/mrseq", newx);
	CU_ASSERT_FATAL(symlink(target, path) == 0);
	CU_ASSERT_EQUAL_FATAL(handler_copy_status(ofd, nfd, err, sizeof(err)), 0);
	CU_ASSERT(S_ISREG(mode_of(newx, "mrseq")));
	text = slurp(newx, "mrseq");
	CU_ASSERT(text != NULL && strcmp(text, "5") == 0);
	free(text);
	text = slurp(root, "mrseq-target");
	CU_ASSERT(text != NULL && strcmp(text, "untouched") == 0);
	free(text);
	close(nfd);
	/* The old mrseq a symlink: not followed, not copied. */
	nfd = new_ext(newx, sizeof(newx), logs, sizeof(logs));
	snprintf(path, sizeof(path), "%.700s/mrseq", oldx);
	CU_ASSERT_FATAL(unlink(path) == 0);
	CU_ASSERT_FATAL(symlink(target, path) == 0);
	CU_ASSERT_EQUAL_FATAL(handler_copy_status(ofd, nfd, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(mode_of(newx, "mrseq"), (mode_t)-1);
	close(nfd);
	/* The new version's status/ planted as a symlink: refused. */
	nfd = new_ext(newx, sizeof(newx), logs, sizeof(logs));
	snprintf(sdir, sizeof(sdir), "%.700s/planted-%d", root, ext_n);
	CU_ASSERT_FATAL(mkdir(sdir, 0755) == 0);
	snprintf(path, sizeof(path), "%.700s/status", newx);
	CU_ASSERT_FATAL(symlink(sdir, path) == 0);
	CU_ASSERT_EQUAL(handler_copy_status(ofd, nfd, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	CU_ASSERT_EQUAL(mode_of(sdir, "0.status"), (mode_t)-1);
	close(nfd);
	close(ofd);
}

/* What a handler sees: its environment (clean), working dir, fds. */
/* The ignored signals 1 to 31 of the SigIgn line in out, or -1 without one. */
static long long
sigign_classic(const char *out)
{
	const char	*p;

	if ((p = strstr(out, "SigIgn:\t")) == NULL)
		return -1;
	return strtoull(p + strlen("SigIgn:\t"), NULL, 16) & 0x7fffffffULL;
}

static void
test_run_environment(void)
{
	static const char *const extra[] = { "AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE=0",
					     NULL };
	struct got	 g;
	char		 ext[512], logs[512], line[1024], *log;
	int		 fd, leak;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	setenv("EXTMGR_SECRET_TEST", "leaked", 1);
	/* No O_CLOEXEC: the child must not get it.  Far above what ls(1)
	 * opens for itself (3), which the fd listing below would show. */
	leak = fcntl(2, F_DUPFD, 100);
	CU_ASSERT_FATAL(leak >= 100);
	snprintf(line, sizeof(line), "env; echo cwd=$(pwd); ls /proc/$$/fd | tr '\\n' ' ';"
	    " echo; grep SigIgn /proc/$$/status; echo err >&2; exit 3");
	run_op(MANIFEST_OP_UPDATE, line, ext, logs, 10, extra, &g);
	close(leak);
	CU_ASSERT_EQUAL(g.exited, 1);
	CU_ASSERT_EQUAL(g.exit_status, 3);
	CU_ASSERT_EQUAL(g.code, 1008);			/* update failed */
	CU_ASSERT_STRING_EQUAL(g.message, "exit 3");
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "HTTPS_PROXY=http://127.0.0.1:40343\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "https_proxy=http://127.0.0.1:40343\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "HTTP_PROXY=http://127.0.0.1:40343\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "http_proxy=http://127.0.0.1:40343\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "NO_PROXY=localhost,127.0.0.1,::1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "no_proxy=localhost,127.0.0.1,::1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "IMDS_ENDPOINT=http://localhost:40342\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "IDENTITY_ENDPOINT=http://localhost:40342"
	    "/metadata/identity/oauth2/token\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "ConfigSequenceNumber=7\n"));
	snprintf(line, sizeof(line), "AZURE_GUEST_AGENT_EXTENSION_PATH=%s\n", ext);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, line));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "AZURE_GUEST_AGENT_EXTENSION_VERSION=1.0.0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "AZURE_GUEST_AGENT_UPDATING_FROM_VERSION=0.9.0\n"));
	/* The VM agent's update also gets VERSION, the handler's own. */
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "\nVERSION=1.0.0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE=0\n"));
	snprintf(line, sizeof(line), "ARC_EXTENSION_CERTS_DIR=%s\n", certs_dir);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, line));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "PATH=/usr/local/sbin:"));
	CU_ASSERT_PTR_NULL(strstr(g.output, "EXTMGR_SECRET_TEST"));
	snprintf(line, sizeof(line), "cwd=%s\n", ext);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, line));
	/* fds: 0, 1, 2 and ls's own directory fd, nothing of ours. */
	snprintf(line, sizeof(line), " %d ", leak);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "0 1 2 "));
	CU_ASSERT_PTR_NULL(strstr(g.output, line));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "err\n"));
	/* SIGPIPE, ignored here, is back to its default there, and so is
	 * every classic signal.  Signals 32 and 33 are glibc's own: sigaction()
	 * cannot touch them, so an ignore that make(1) hands down stays. */
	CU_ASSERT_EQUAL(sigign_classic(g.output), 0);
	unsetenv("EXTMGR_SECRET_TEST");
	free(g.output);

	/* A downgrade to 0.8.0, as the VM agent runs it: 1.0.0's own update,
	 * with VERSION and UPDATING_FROM both the version updated to. */
	downgrade_to = "0.8.0";
	run_op(MANIFEST_OP_UPDATE, "env", ext, logs, 10, NULL, &g);
	downgrade_to = NULL;
	CU_ASSERT_EQUAL(g.code, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "AZURE_GUEST_AGENT_EXTENSION_VERSION=1.0.0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "AZURE_GUEST_AGENT_UPDATING_FROM_VERSION=0.8.0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "\nVERSION=0.8.0\n"));
	CU_ASSERT_PTR_NULL(strstr(g.output, "\nVERSION=1.0.0\n"));
	free(g.output);

	/* Not an update: no UPDATING_FROM. */
	run_op(MANIFEST_OP_ENABLE, "env", ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.code, 0);
	CU_ASSERT_STRING_EQUAL(g.message, "exit 0");
	CU_ASSERT_PTR_NULL(strstr(g.output, "UPDATING_FROM"));
	free(g.output);
	/* Everything is in the log folder's CommandExecution.log, 0600. */
	log = slurp(logs, HANDLER_LOG_FILE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "update: exit 3"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "enable: exit 0"));
	CU_ASSERT_EQUAL(mode_of(logs, HANDLER_LOG_FILE) & 07777, 0600);
	free(log);
	close(fd);
}

/* The manifest's command as the VM agent runs it. */
static void
test_run_command_paths(void)
{
	struct got	 g;
	char		 ext[512], logs[512], line[1024];
	int		 fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	put(ext, "top.sh", "#!/bin/sh\necho top $1\n", 0755);
	run_op(MANIFEST_OP_INSTALL, "scripts/run.sh install", ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.code, 0);
	snprintf(line, sizeof(line), "run.sh install in %s\n", ext);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, line));
	free(g.output);
	/* A leading slash means the package's file, as the VM agent reads it. */
	run_op(MANIFEST_OP_INSTALL, "/scripts/run.sh again", ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.code, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "run.sh again in"));
	free(g.output);
	/* A bare name is the package's file, not a PATH lookup. */
	run_op(MANIFEST_OP_ENABLE, "top.sh x", ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.code, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "top x\n"));
	free(g.output);
	/* A command that is not a package file runs as written. */
	run_op(MANIFEST_OP_ENABLE, "sh ./top.sh y", ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.code, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "top y\n"));
	free(g.output);
	/* Not executable: 126, said so. */
	put(ext, "noexec.sh", "#!/bin/sh\necho never\n", 0644);
	run_op(MANIFEST_OP_ENABLE, "noexec.sh", ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.exit_status, 126);
	CU_ASSERT_EQUAL(g.code, 1009);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.message, "exit 126: "));
	free(g.output);
	run_op(MANIFEST_OP_DISABLE, "no-such-command-here", ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.exit_status, 127);
	CU_ASSERT_EQUAL(g.code, 1010);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.message, "not found"));
	free(g.output);
	close(fd);
}

/* The last 3200 characters of a long output, as valid UTF-8. */
static void
test_run_output_tail(void)
{
	struct got	 g;
	char		 ext[512], logs[512], *log;
	int		 fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	run_op(MANIFEST_OP_ENABLE, "i=0; while [ $i -lt 2000 ]; do echo line-$i; "
	    "i=$((i+1)); done; printf 'bad\\377\\000byte\\n'; echo THE-END",
	    ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.code, 0);
	CU_ASSERT_EQUAL(g.output_len, HANDLER_OUTPUT_TAIL);
	CU_ASSERT_STRING_EQUAL(g.output + g.output_len - 8, "THE-END\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "line-1999\nbad??byte\nTHE-END\n"));
	CU_ASSERT_PTR_NULL(strstr(g.output, "line-1000\n"));
	free(g.output);
	log = slurp(logs, HANDLER_LOG_FILE);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "line-0\n"));	/* the log has it all */
	free(log);
	close(fd);
}

/* An extmgr started with stdin, stdout and stderr closed: its handler
 * still gets /dev/null and the log as 0, 1 and 2. */
static void
test_run_closed_stdio(void)
{
	char	 ext[512], logs[512];
	pid_t	 pid;
	int	 fd, status;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	if ((pid = fork()) == 0) {
		struct got	 g;
		char		 err[512];
		int		 bad;

		close_stdio = 1;
		if (run_op_raw(MANIFEST_OP_ENABLE, "echo out; cat; echo err >&2",
		    ext, logs, 10, NULL, &g, err, sizeof(err)) == -1)
			_exit(2);
		bad = g.called != 1 || g.code != 0 || g.output == NULL ||
		    strstr(g.output, "out\nerr\n") == NULL;
		_exit(bad ? 1 : 0);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

/* A handler that writes without end is kept from filling the disk. */
static void
test_run_output_cap(void)
{
	struct got	 g;
	struct stat	 st;
	char		 ext[512], logs[512], path[1024], *log;
	int		 fd;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	run_op(MANIFEST_OP_INSTALL, "head -c 17000000 /dev/zero | tr '\\0' x; "
	    "echo; sleep 1.5; echo after-the-flood", ext, logs, 30, NULL, &g);
	CU_ASSERT_EQUAL(g.code, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "after-the-flood\n"));
	free(g.output);
	snprintf(path, sizeof(path), "%.700s/%s", logs, HANDLER_LOG_FILE);
	CU_ASSERT_FATAL(stat(path, &st) == 0);
	CU_ASSERT(st.st_size < HANDLER_LOG_RUN_MAX);
	log = slurp(logs, HANDLER_LOG_FILE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "log emptied: the output passed 16 MiB"));
	free(log);
	close(fd);
}

/* Is pid gone (or a zombie waiting for init)? */
static int
pid_dead(pid_t pid)
{
	char	 path[64], buf[512], *p;
	FILE	*f;
	int	 dead = 1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
		dead = p[2] == 'Z' || p[2] == 'X';
	fclose(f);
	return dead;
}

/* A handler past its limit is killed with its children: Timeout(N). */
static void
test_run_timeout(void)
{
	struct got	 g;
	char		 ext[512], logs[512], *pidtext;
	struct timespec	 ts = { 0, 50 * 1000 * 1000 };
	pid_t		 child;
	int		 fd, i;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	run_op(MANIFEST_OP_ENABLE, "sleep 60 & echo $! > child.pid; echo started; "
	    "sleep 60; echo never", ext, logs, 1, NULL, &g);
	CU_ASSERT_EQUAL(g.timed_out, 1);
	CU_ASSERT_EQUAL(g.exited, 0);
	CU_ASSERT_EQUAL(g.code, HANDLER_ERR_TIMEOUT);
	CU_ASSERT_STRING_EQUAL(g.message, "Timeout(1)");
	CU_ASSERT(g.duration_ms >= 900 && g.duration_ms < 5000);
	CU_ASSERT_PTR_NOT_NULL(strstr(g.output, "started\n"));
	CU_ASSERT_PTR_NULL(strstr(g.output, "never"));
	free(g.output);
	pidtext = slurp(ext, "child.pid");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pidtext);
	child = (pid_t)atoi(pidtext);
	free(pidtext);
	CU_ASSERT_FATAL(child > 1);
	for (i = 0; i < 40 && !pid_dead(child); i++)	/* up to 2 s */
		nanosleep(&ts, NULL);
	CU_ASSERT_TRUE(pid_dead(child));
	close(fd);
}

static void
never_called(const struct handler_result *res, void *arg)
{
	(void)res;
	(void)arg;
	CU_FAIL("the callback of a cancelled run");
}

/* Cancel kills the group; a daemon left by enable keeps writing its log. */
static void
test_run_cancel_and_leftovers(void)
{
	struct handler_paths	 paths = { "Cloudsim.Samples.Hello", "1.0.0", NULL,
				    NULL, NULL };
	struct handler_job	 job;
	struct event_base	*base;
	struct handler_run	*run;
	struct got		 g;
	struct timespec		 ts = { 0, 50 * 1000 * 1000 };
	char			 ext[512], logs[512], err[512], *log;
	pid_t			 pid;
	int			 fd, i;

	fd = new_ext(ext, sizeof(ext), logs, sizeof(logs));
	CU_ASSERT_FATAL(mkdir(logs, 0700) == 0);
	paths.ext_dir = ext;
	paths.log_dir = logs;
	memset(&job, 0, sizeof(job));
	job.op = MANIFEST_OP_INSTALL;
	job.command = "sleep 60";
	job.paths = &paths;
	job.timeout_seconds = 60;
	base = event_base_new();
	run = handler_start(base, &job, never_called, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(run);
	pid = handler_pid(run);
	handler_cancel(run);
	CU_ASSERT_TRUE(pid_dead(pid));
	event_base_dispatch(base);	/* nothing left: returns at once */
	event_base_free(base);

	/* The shell exits at once; what it started in the background keeps
	 * running, and its late output still reaches the log. */
	run_op(MANIFEST_OP_ENABLE, "(sleep 1; echo late-output) & echo enabled",
	    ext, logs, 10, NULL, &g);
	CU_ASSERT_EQUAL(g.code, 0);
	CU_ASSERT(g.duration_ms < 900);
	free(g.output);
	log = NULL;
	for (i = 0; i < 60; i++) {	/* up to 3 s */
		free(log);
		log = slurp(logs, HANDLER_LOG_FILE);
		if (log != NULL && strstr(log, "late-output") != NULL)
			break;
		nanosleep(&ts, NULL);
	}
	CU_ASSERT_PTR_NOT_NULL(log != NULL ? strstr(log, "late-output") : NULL);
	free(log);
	close(fd);
}

/* A noexec mount, in a mount namespace of its own: found up front, and a
 * 126 from it named as such. */
static void
test_noexec(void)
{
	char		 dir[1024];
	pid_t		 pid;
	int		 status;

	snprintf(dir, sizeof(dir), "%.700s/noexec", root);
	CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
	if ((pid = fork()) == 0) {
		char		 ext[1100], logs[1100], err[512];
		struct got	 g;
		int		 fails = 0;

		if (unshare(CLONE_NEWNS) == -1 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
			_exit(77);
		if (mount("tmpfs", dir, "tmpfs", MS_NOEXEC, "size=1m") == -1)
			_exit(77);
		fails += handler_check_exec(dir, err, sizeof(err)) != -1;
		fails += strstr(err, "mounted noexec") == NULL;
		fails += handler_check_exec(root, err, sizeof(err)) != 0;
		snprintf(ext, sizeof(ext), "%.700s/ext", dir);
		snprintf(logs, sizeof(logs), "%.700s/logs", dir);
		mkdir(ext, 0755);
		put(ext, "enable.sh", "#!/bin/sh\necho hi\n", 0755);
		if (run_op_raw(MANIFEST_OP_ENABLE, "enable.sh", ext, logs, 10,
		    NULL, &g, err, sizeof(err)) == -1)
			fails++;
		fails += g.called != 1 || g.exit_status != 126;
		fails += strstr(g.message, "mounted noexec") == NULL;
		if (fails)
			fprintf(stderr, "noexec: %s / %s\n", err, g.message);
		_exit(fails == 0 ? 0 : 1);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	CU_ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77 && geteuid() != 0)
		printf("\n  noexec: no mount namespace without root: "
		    "checked only when run as root\n");
	else
		CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	rmdir(dir);
}

static const struct unit_test tests[] = {
	{ "manifest: fields, defaults, 1002 and 1003 with the key", test_manifest },
	{ "manifest: a planted symlink is not followed", test_manifest_symlink },
	{ "status: missing, handler's, cut, malformed, too big, symlinks", test_status },
	{ "heartbeat: fresh, stale past the limit, malformed", test_heartbeat },
	{ "environment: HandlerEnvironment.json, dirs 0700, symlink refused",
	  test_environment },
	{ "settings: file 0600, content, symlinked config/ refused", test_settings },
	{ "settings: status/ pruned like config/, no symlink followed",
	    test_status_prune },
	{ "runs: a dead pass's record kills its group, never a reused pid",
	    test_leftover_records },
	{ "runs: the record is written before the shell runs, removed after",
	    test_run_record },
	{ "certificates: <THUMB>.crt/.prv 0600, a planted symlink replaced",
	  test_certificates },
	{ "settings: a handler decrypts protectedSettings as real ones do (EC, RSA)",
	  test_protected_settings_decrypt },
	{ "upgrade: mrseq and status/ copied, symlinks neither copied nor followed",
	  test_copy_status },
	{ "unpacked: every file gets u+x, no symlink followed", test_make_executable },
	{ "run: environment, working dir, no inherited fd, exit code", test_run_environment },
	{ "run: commands resolved as the VM agent does, 126, 127",
	  test_run_command_paths },
	{ "run: the output's last 3200 characters", test_run_output_tail },
	{ "run: 0, 1 and 2 right when extmgr's own are closed", test_run_closed_stdio },
	{ "run: a flood of output empties the log past 16 MiB", test_run_output_cap },
	{ "run: past the limit the whole group is killed, Timeout(1)", test_run_timeout },
	{ "run: cancel; a daemon left behind keeps its log", test_run_cancel_and_leftovers },
	{ "run: a noexec mount found up front and named on 126", test_noexec },
	{ NULL, NULL }
};

int
main(void)
{
	char	cmd[200];
	int	rc;

	snprintf(root, sizeof(root), "/tmp/extmgr_handler_test.%d", (int)getpid());
	snprintf(certs_dir, sizeof(certs_dir), "%s/certs", root);
	if (mkdir(root, 0755) == -1) {
		perror(root);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);	/* as extmgr does: the child resets it */
	rc = unit_main("extmgr_handler", tests);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return rc;
}
