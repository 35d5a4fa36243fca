/* agentlet_test.c -- the agentlet skeleton as a program sees it: wrong flags give usage and exit 2, a bad directory or conf one line and exit 1, -n says OK, and a running one reloads on SIGHUP (keeping what runs when the new conf is bad) and stops on SIGTERM without its pid file; as root, a run dir another user can change is refused. */
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "agentlet.h"
#include "conf.h"
#include "unit.h"

#define NAME	"testlet"

struct testlet_settings {
	char		*path;
	int		 found;
	long long	 value;
};

struct testlet {
	struct testlet_settings	 settings;
	struct event		*step;
	int			 nstep;
	const char		*run_dir;
};

static char	dir[64];
static char	conf_dir[96], run_dir[96];

static void
put(const char *name, const char *text)
{
	char	path[160];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", conf_dir, name);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	fclose(f);
}

static int
testlet_read(void *arg, config_t *cfg, struct conf_error *err)
{
	static const char *const keys[] = { "value", NULL };
	struct testlet_settings	*s = arg;

	return conf_check_keys(config_root_setting(cfg), keys, err) == -1 ||
	    conf_int(config_root_setting(cfg), "value", 0, 100, &s->value,
	    err) == -1 ? -1 : 0;
}

static int
testlet_load(const struct agentlet *al, void *arg, char *err, size_t errlen)
{
	struct testlet_settings	*s = arg;

	s->value = 1;
	if (conf_load_file(al->config_dir, NAME ".conf", &s->path, &s->found,
	    testlet_read, s, err, errlen) == -1) {
		free(s->path);
		memset(s, 0, sizeof(*s));
		return -1;
	}
	return 0;
}

static void
testlet_clear(void *arg)
{
	struct testlet_settings	*s = arg;

	free(s->path);
	memset(s, 0, sizeof(*s));
}

/* The next step once this reload is done. */
static void
testlet_reloaded(void *arg, int ok)
{
	struct testlet	*t = arg;
	struct timeval	 tv = { 0, 0 };

	printf("reloaded %d value %lld\n", ok, t->settings.value);
	evtimer_add(t->step, &tv);
}

/* Each step a signal, as an operator would send it. */
static void
testlet_step(evutil_socket_t fd, short what, void *arg)
{
	struct testlet	*t = arg;

	(void)fd;
	(void)what;
	switch (t->nstep++) {
	case 0:
		put(NAME ".conf", "value = 7;\n");
		raise(SIGHUP);
		break;
	case 1:
		put(NAME ".conf", "value = \"seven\";\n");
		raise(SIGHUP);
		break;
	default:
		raise(SIGTERM);
	}
}

static void
testlet_start(struct agentlet *al)
{
	struct testlet	*t = al->ctx;
	struct timeval	 tv = { 0, 0 };

	t->run_dir = al->run_dir;
	t->step = evtimer_new(al->base, testlet_step, t);
	evtimer_add(t->step, &tv);
}

static void
testlet_started(void *arg)
{
	struct testlet	*t = arg;
	char		 path[160];

	snprintf(path, sizeof(path), "%s/" NAME ".pid", t->run_dir);
	printf("started value %lld, pid file %s\n", t->settings.value,
	    access(path, F_OK) == 0 ? "there" : "missing");
}

static void
testlet_stop(void *arg)
{
	struct testlet	*t = arg;

	event_free(t->step);
	printf("stopping\n");
}

static const struct agentlet_ops testlet_ops = {
	.name = NAME,
	AGENTLET_SETTINGS(struct testlet, settings),
	.agent_offset = AGENTLET_NO_AGENT,
	.settings_load = testlet_load,
	.settings_clear = testlet_clear,
	.reloaded = testlet_reloaded,
	.start = testlet_start,
	.started = testlet_started,
	.stop = testlet_stop,
};

/* What one run printed, and how it ended. */
struct outcome {
	int	status;		/* the exit code; -1: not exited */
	char	out[2048];
	char	err[4096];
};

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
slurp(int fd, char *buf, size_t len)
{
	size_t	n = 0;
	ssize_t	r;

	while (n + 1 < len && ((r = read(fd, buf + n, len - 1 - n)) > 0 ||
	    (r == -1 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	buf[n] = '\0';
}

/* argv (NULL-terminated) run through agentlet_main() in a child. */
static void
run(struct outcome *o, char *const argv[])
{
	struct testlet	t;
	int		out[2], err[2], argc, status;
	pid_t		pid;

	for (argc = 0; argv[argc] != NULL; argc++)
		;
	CU_ASSERT_FATAL(pipe(out) == 0 && pipe(err) == 0);
	fflush(NULL);
	CU_ASSERT_FATAL((pid = fork()) != -1);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		memset(&t, 0, sizeof(t));
		exit(agentlet_main(argc, (char **)argv, &testlet_ops, &t));
	}
	close(out[1]);
	close(err[1]);
	/* Small outputs: the pipes hold them whole until both are read. */
	slurp(err[0], o->err, sizeof(o->err));
	slurp(out[0], o->out, sizeof(o->out));
	close(out[0]);
	close(err[0]);
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
	o->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_unknown_flag(void)
{
	struct outcome	o;
	char *const	argv[] = { NAME, "-n", "--bogus", NULL };

	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 2);
	CU_ASSERT(starts(o.err, NAME ": unrecognized option '--bogus'\n"
	    "usage: " NAME " [-dnv] [--config-dir DIR] [--state-dir DIR] "
	    "[--run-dir DIR]\n"));
	CU_ASSERT_STRING_EQUAL(o.out, "");
}

static void
test_missing_argument(void)
{
	struct outcome	o;
	char *const	argv[] = { NAME, "-n", "--config-dir", NULL };

	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 2);
	CU_ASSERT(starts(o.err, NAME ": option '--config-dir' requires an "
	    "argument\nusage: " NAME " [-dnv]"));
	CU_ASSERT_STRING_EQUAL(o.out, "");
}

static void
test_stray_argument(void)
{
	struct outcome	o;
	char *const	argv[] = { NAME, "-n", "extra", NULL };

	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 2);
	CU_ASSERT(starts(o.err, "usage: " NAME " [-dnv]"));
}

static void
test_missing_config_dir(void)
{
	struct outcome	o;
	char *const	argv[] = { NAME, "-n", "--config-dir", "/nonexistent/arc",
	    NULL };

	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 1);
	CU_ASSERT_STRING_EQUAL(o.err, NAME ": /nonexistent/arc: No such file "
	    "or directory\n");
}

static void
test_check_without_a_file(void)
{
	struct outcome	o;
	char		expect[256], path[160];
	char *const	argv[] = { NAME, "-n", "--config-dir", conf_dir,
	    "--state-dir", "/nonexistent/state", "--run-dir",
	    "/nonexistent/run", NULL };

	snprintf(path, sizeof(path), "%s/" NAME ".conf", conf_dir);
	unlink(path);
	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 0);
	snprintf(expect, sizeof(expect), NAME ": %s/" NAME ".conf: "
	    "configuration OK (no file: the defaults)\n", conf_dir);
	CU_ASSERT_STRING_EQUAL(o.out, expect);
	CU_ASSERT_STRING_EQUAL(o.err, "");
}

static void
test_check_bad_files(void)
{
	struct outcome	o;
	char		expect[256];
	char *const	argv[] = { NAME, "-n", "--config-dir", conf_dir, NULL };

	put(NAME ".conf", "value = 5;\n");
	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 0);
	snprintf(expect, sizeof(expect), NAME ": %s/" NAME ".conf: "
	    "configuration OK\n", conf_dir);
	CU_ASSERT_STRING_EQUAL(o.out, expect);

	put(NAME ".conf", "\nvalue = 500;\n");
	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 1);
	snprintf(expect, sizeof(expect), NAME ": %s/" NAME ".conf:2: ",
	    conf_dir);
	CU_ASSERT(starts(o.err, expect));
	CU_ASSERT(strchr(o.err, '\n') == o.err + strlen(o.err) - 1);
	CU_ASSERT_STRING_EQUAL(o.out, "");

	/* agent.conf is read with it: a bad one is said the same way. */
	put(NAME ".conf", "value = 5;\n");
	put("agent.conf", "conection = { type = \"direct\"; };\n");
	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 1);
	CU_ASSERT(strstr(o.err, "agent.conf:1: unknown key") != NULL);
	CU_ASSERT(strchr(o.err, '\n') == o.err + strlen(o.err) - 1);
	put("agent.conf", "");
}

static void
test_reload_and_stop(void)
{
	struct outcome	o;
	char		path[160];
	char *const	argv[] = { NAME, "-d", "--config-dir", conf_dir,
	    "--state-dir", dir, "--run-dir", run_dir, NULL };

	put(NAME ".conf", "value = 5;\n");
	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT_STRING_EQUAL(o.out, "started value 5, pid file there\n"
	    "reloaded 1 value 7\n"
	    "reloaded 0 value 7\n"
	    "stopping\n");
	CU_ASSERT(strstr(o.err, "reload refused, keeping the running "
	    "configuration: ") != NULL);
	CU_ASSERT(strstr(o.err, "Terminated: stopping\n") != NULL);
	snprintf(path, sizeof(path), "%s/" NAME ".pid", run_dir);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
}


/*
 * Root's run dir: one that another user can change is refused with one line
 * and exit 1 (nothing of it followed); a missing one is made root's 0755
 * whatever the umask.  As root only: another user's run dir is not checked.
 */
static void
refused(const char *path, const char *why)
{
	struct outcome	o;
	char		expect[256];
	char *const	argv[] = { NAME, "-d", "--config-dir", conf_dir,
	    "--state-dir", dir, "--run-dir", (char *)path, NULL };

	put(NAME ".conf", "value = 5;\n");
	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 1);
	snprintf(expect, sizeof(expect), NAME ": %s: %s\n", path, why);
	CU_ASSERT_STRING_EQUAL(o.err, expect);
	CU_ASSERT_STRING_EQUAL(o.out, "");
}

static void
test_run_dir_refused(void)
{
	struct stat	st;
	char		other[128], link[128], pid[160];

	if (geteuid() != 0)
		return;
	snprintf(other, sizeof(other), "%s/other", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(pid, sizeof(pid), "%s/" NAME ".pid", other);
	CU_ASSERT_FATAL(mkdir(other, 0755) == 0);
	CU_ASSERT_FATAL(chown(other, 65534, 65534) == 0);
	refused(other, "owned by uid 65534, not root: refused");
	CU_ASSERT_EQUAL(lstat(pid, &st), -1);

	/* A symlink to it, or to root's own dir: never followed. */
	CU_ASSERT_FATAL(symlink(other, link) == 0);
	refused(link, "a symbolic link, not followed: refused");
	CU_ASSERT_EQUAL(lstat(pid, &st), -1);
	unlink(link);
	CU_ASSERT_FATAL(symlink(run_dir, link) == 0);
	refused(link, "a symbolic link, not followed: refused");
	unlink(link);

	/* Root's, but others (or a group not root's) may write, not sticky. */
	CU_ASSERT_FATAL(chown(other, 0, 0) == 0 && chmod(other, 0777) == 0);
	refused(other, "mode 0777, group 0: writable by another user and "
	    "not sticky: refused");
	CU_ASSERT_FATAL(chown(other, 0, 65534) == 0 && chmod(other, 0775) == 0);
	refused(other, "mode 0775, group 65534: writable by another user and "
	    "not sticky: refused");
	CU_ASSERT_EQUAL(lstat(pid, &st), -1);
	rmdir(other);

	/* A file in its place. */
	put("file", "");
	snprintf(other, sizeof(other), "%s/file", conf_dir);
	refused(other, "not a directory: refused");
	unlink(other);
}

static void
test_run_dir_made(void)
{
	struct outcome	o;
	struct stat	st;
	char		fresh[128];
	char *const	argv[] = { NAME, "-d", "--config-dir", conf_dir,
	    "--state-dir", dir, "--run-dir", fresh, NULL };
	mode_t		mask;

	if (geteuid() != 0)
		return;
	snprintf(fresh, sizeof(fresh), "%s/fresh", dir);
	put(NAME ".conf", "value = 5;\n");
	mask = umask(077);
	run(&o, argv);
	umask(mask);
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT(starts(o.out, "started value 5, pid file there\n"));
	CU_ASSERT_FATAL(lstat(fresh, &st) == 0);
	CU_ASSERT(S_ISDIR(st.st_mode) && st.st_uid == 0 && st.st_gid == 0 &&
	    (st.st_mode & 07777) == 0755);
	rmdir(fresh);

	/* Root's and sticky, as /tmp: taken. */
	CU_ASSERT_FATAL(mkdir(fresh, 0755) == 0 && chmod(fresh, 01777) == 0);
	put(NAME ".conf", "value = 5;\n");	/* the run above changed it */
	run(&o, argv);
	CU_ASSERT_EQUAL(o.status, 0);
	CU_ASSERT(starts(o.out, "started value 5, pid file there\n"));
	rmdir(fresh);
}

static const struct unit_test tests[] = {
	{ "an unknown flag: usage, exit 2", test_unknown_flag },
	{ "a flag without its argument: usage, exit 2", test_missing_argument },
	{ "a stray argument: usage, exit 2", test_stray_argument },
	{ "a missing config dir: one line, exit 1", test_missing_config_dir },
	{ "-n without a file: the defaults", test_check_without_a_file },
	{ "-n with good and bad files", test_check_bad_files },
	{ "SIGHUP reloads or keeps, SIGTERM stops", test_reload_and_stop },
	{ "root refuses a run dir another user can change", test_run_dir_refused },
	{ "root makes a missing run dir root's 0755", test_run_dir_made },
	{ NULL, NULL }
};

int
main(void)
{
	char	path[160];
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/agentlet_test.%d", (int)getpid());
	snprintf(conf_dir, sizeof(conf_dir), "%s/conf", dir);
	snprintf(run_dir, sizeof(run_dir), "%s/run", dir);
	mkdir(dir, 0700);
	mkdir(conf_dir, 0700);
	mkdir(run_dir, 0700);
	rc = unit_main("agentlet", tests);
	snprintf(path, sizeof(path), "%s/" NAME ".conf", conf_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/agent.conf", conf_dir);
	unlink(path);
	rmdir(conf_dir);
	rmdir(run_dir);
	rmdir(dir);
	return rc;
}
