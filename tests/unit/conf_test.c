/* conf_test.c -- the libconfig helpers: typed getters, ranges, unknown keys, and errors naming file and line. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "unit.h"

static char path[64];

static config_setting_t *
load(config_t *cfg, const char *text, struct conf_error *err)
{
	FILE	*f;

	snprintf(path, sizeof(path), "/tmp/conf_test.%d.conf", (int)getpid());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	config_init(cfg);
	if (conf_read(cfg, path, err) == -1)
		return NULL;
	return config_root_setting(cfg);
}

static void
test_syntax_error_names_file_and_line(void)
{
	config_t		cfg;
	struct conf_error	err;

	CU_ASSERT_PTR_NULL(load(&cfg, "a = 1;\nb = [ 1, \n;\n", &err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, ":3:"));
	config_destroy(&cfg);
	unlink(path);
}

static void
test_missing_file(void)
{
	config_t		cfg;
	struct conf_error	err;

	config_init(&cfg);
	CU_ASSERT_EQUAL(conf_read(&cfg, "/nonexistent/x.conf", &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "/nonexistent/x.conf: cannot read"));
	config_destroy(&cfg);
}

static void
test_typed_getters(void)
{
	config_t		 cfg;
	struct conf_error	 err;
	config_setting_t	*root = load(&cfg, "n = 5;\ns = \"x\";\nb = true;\n"
	    "e = \"two\";\nbig = 99;\nwrong = \"5\";\n", &err);
	static const char *const names[] = { "one", "two", NULL };
	long long		 n = 0, dflt = 7;
	const char		*s = NULL;
	int			 b = 0, e = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_EQUAL(conf_int(root, "n", 0, 10, &n, &err), 0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(conf_int(root, "absent", 0, 10, &dflt, &err), 0);
	CU_ASSERT_EQUAL(dflt, 7);
	CU_ASSERT_EQUAL(conf_string(root, "s", &s, &err), 0);
	CU_ASSERT_STRING_EQUAL(s, "x");
	CU_ASSERT_EQUAL(conf_bool(root, "b", &b, &err), 0);
	CU_ASSERT_EQUAL(b, 1);
	CU_ASSERT_EQUAL(conf_enum(root, "e", names, &e, &err), 0);
	CU_ASSERT_EQUAL(e, 1);
	CU_ASSERT_EQUAL(conf_int(root, "big", 0, 10, &n, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, ":5: 'big' must be between 0 and 10"));
	CU_ASSERT_EQUAL(conf_int(root, "wrong", 0, 10, &n, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, ":6: 'wrong' must be an integer"));
	CU_ASSERT_EQUAL(conf_enum(root, "s", names, &e, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "expected one of: \"one\", \"two\""));
	config_destroy(&cfg);
	unlink(path);
}

static void
test_unknown_key(void)
{
	config_t		 cfg;
	struct conf_error	 err;
	config_setting_t	*root = load(&cfg, "listen = 1;\nlisen = 2;\n", &err);
	static const char *const keys[] = { "listen", "workers", NULL };

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_EQUAL(conf_check_keys(root, keys, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, ":2: unknown key 'lisen' (expected one of: listen, workers)"));
	config_destroy(&cfg);
	unlink(path);
}

static void
test_lists(void)
{
	config_t		 cfg;
	struct conf_error	 err;
	config_setting_t	*root = load(&cfg, "a = [ \"x\", \"y\" ];\nb = ( \"x\", 3 );\n"
	    "g = ( { k = 1; } );\nh = ( 1 );\n", &err);
	const config_setting_t	*l = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_EQUAL(conf_string_list(root, "a", &l, &err), 0);
	CU_ASSERT_EQUAL(config_setting_length(l), 2);
	CU_ASSERT_EQUAL(conf_string_list(root, "b", &l, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "element 2 must be a string"));
	CU_ASSERT_EQUAL(conf_group_list(root, "g", &l, &err), 0);
	CU_ASSERT_EQUAL(conf_group_list(root, "h", &l, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, ":4:"));
	config_destroy(&cfg);
	unlink(path);
}

/* A FIFO (or a device) in a setting file's place: refused at once, not
 * read until a writer comes (alarm: the test fails instead of hanging). */
static void
test_not_a_regular_file(void)
{
	config_t		cfg;
	struct conf_error	err;
	char			fifo[64];

	snprintf(fifo, sizeof(fifo), "/tmp/conf_test.%d.fifo", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0644), 0);
	config_init(&cfg);
	alarm(10);
	CU_ASSERT_EQUAL(conf_read(&cfg, fifo, &err), -1);
	alarm(0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "not a regular file"));
	config_destroy(&cfg);
	unlink(fifo);
	config_init(&cfg);
	CU_ASSERT_EQUAL(conf_read(&cfg, "/dev/zero", &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "/dev/zero: not a regular file"));
	config_destroy(&cfg);
}

/* Root reads settings that only root can change. */
static void
test_root_reads_only_roots_files(void)
{
	config_t		cfg;
	struct conf_error	err;

	if (geteuid() != 0) {
		printf("(not root: skipped) ");
		return;
	}
	CU_ASSERT_PTR_NOT_NULL(load(&cfg, "a = 1;\n", &err));
	config_destroy(&cfg);
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0666), 0);
	config_init(&cfg);
	CU_ASSERT_EQUAL(conf_read(&cfg, path, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "writable by everyone"));
	config_destroy(&cfg);
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0664), 0);
	CU_ASSERT_EQUAL_FATAL(chown(path, 0, 65534), 0);
	config_init(&cfg);
	CU_ASSERT_EQUAL(conf_read(&cfg, path, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "writable by its group"));
	config_destroy(&cfg);
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0644), 0);
	CU_ASSERT_EQUAL_FATAL(chown(path, 65534, 65534), 0);
	config_init(&cfg);
	CU_ASSERT_EQUAL(conf_read(&cfg, path, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "owned by uid 65534"));
	config_destroy(&cfg);
	unlink(path);
}

static void
test_too_large(void)
{
	config_t		cfg;
	struct conf_error	err;
	FILE			*f;

	snprintf(path, sizeof(path), "/tmp/conf_test.%d.conf", (int)getpid());
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
	CU_ASSERT_EQUAL(ftruncate(fileno(f), CONF_MAX_BYTES + 1), 0);
	fclose(f);
	config_init(&cfg);
	CU_ASSERT_EQUAL(conf_read(&cfg, path, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.text, "larger than"));
	config_destroy(&cfg);
	unlink(path);
}

/* Puts the good file and the refused one in turn at path, until told. */
struct swapper {
	char		good[80], bad[80], tmp[80];
	volatile int	stop;
};

static void *
swap(void *arg)
{
	struct swapper	*sw = arg;

	while (!sw->stop) {
		unlink(sw->tmp);
		if (link(sw->good, sw->tmp) == 0)
			rename(sw->tmp, path);
		unlink(sw->tmp);
		if (link(sw->bad, sw->tmp) == 0)
			rename(sw->tmp, path);
	}
	return NULL;
}

/* What is read is the file that was checked: path flips between a good
 * file (v = 1) and one refused for its size (v = 2 and a comment past 4
 * MiB); a reading that opened path again after the checks would now and
 * then take the refused one and find v = 2. */
static void
test_reads_what_it_checked(void)
{
	struct swapper		sw;
	struct timespec		start, now;
	struct conf_error	err;
	config_t		cfg;
	pthread_t		t;
	FILE			*f;
	long long		v;
	int			i, good = 0, refused = 0, wrong = 0;

	snprintf(path, sizeof(path), "/tmp/conf_test.%d.conf", (int)getpid());
	snprintf(sw.good, sizeof(sw.good), "%s.good", path);
	snprintf(sw.bad, sizeof(sw.bad), "%s.bad", path);
	snprintf(sw.tmp, sizeof(sw.tmp), "%s.tmp", path);
	sw.stop = 0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(sw.good, "w"));
	fputs("v = 1;\n", f);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(sw.bad, "w"));
	fputs("v = 2;\n", f);
	for (i = 0; i < CONF_MAX_BYTES / 64 + 1; i++)
		fputs("#xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "\n", f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(link(sw.good, path), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, swap, &sw), 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		config_init(&cfg);
		if (conf_read(&cfg, path, &err) == 0) {
			v = 0;
			config_lookup_int64(&cfg, "v", &v);
			if (v == 1)
				good++;
			else
				wrong++;
		} else
			refused++;
		config_destroy(&cfg);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (wrong == 0 && (now.tv_sec - start.tv_sec) * 1000 +
	    (now.tv_nsec - start.tv_nsec) / 1000000 < 1500);
	sw.stop = 1;
	pthread_join(t, NULL);
	printf("(%d good, %d refused, %d read past the checks) ", good, refused,
	    wrong);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT(good > 0 && refused > 0);	/* both were met */
	unlink(path);
	unlink(sw.good);
	unlink(sw.bad);
	unlink(sw.tmp);
}

static void
write_file(const char *name, const char *text)
{
	FILE	*f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(name, "w"));
	fputs(text, f);
	fclose(f);
}

/* An @include'd file's errors name it, and its settings' errors too; the
 * file conf_read() read names its own.  0, or the line of the check that
 * failed (it runs in a child that is not root, where @include is read). */
static int
include_names_its_file(const char *conf, const char *inc, const char *conf2,
    const char *bad)
{
	config_t		 cfg;
	struct conf_error	 err;
	config_setting_t	*root;
	char			 want[192];
	long long		 n;
	int			 failed = 0;

	config_init(&cfg);
	if (conf_read(&cfg, conf, &err) == -1) {
		config_destroy(&cfg);
		return __LINE__;
	}
	root = config_root_setting(&cfg);
	snprintf(want, sizeof(want), "%s:2: ", inc);
	if (conf_int(root, "inc", 0, 9, &n, &err) != -1 ||
	    strncmp(err.text, want, strlen(want)) != 0)
		failed = __LINE__;
	snprintf(want, sizeof(want), "%s:3: ", conf);
	if (conf_int(root, "b", 0, 9, &n, &err) != -1 ||
	    strncmp(err.text, want, strlen(want)) != 0)
		failed = __LINE__;
	config_destroy(&cfg);
	/* A syntax error in the included file names it and its line. */
	config_init(&cfg);
	snprintf(want, sizeof(want), "%s:2: ", bad);
	if (conf_read(&cfg, conf2, &err) != -1 ||
	    strncmp(err.text, want, strlen(want)) != 0)
		failed = __LINE__;
	config_destroy(&cfg);
	return failed;
}

static void
test_include(void)
{
	config_t		 cfg;
	struct conf_error	 err;
	char			 conf[96], conf2[96], inc[96], bad[96], text[200];
	char			 want[200];
	pid_t			 pid;
	int			 status;

	snprintf(conf, sizeof(conf), "/tmp/conf_test.%d.main", (int)getpid());
	snprintf(inc, sizeof(inc), "/tmp/conf_test.%d.inc", (int)getpid());
	snprintf(bad, sizeof(bad), "/tmp/conf_test.%d.bad", (int)getpid());
	snprintf(conf2, sizeof(conf2), "/tmp/conf_test.%d.main2", (int)getpid());
	write_file(inc, "\ninc = \"text\";\n");
	write_file(bad, "x = 1;\ny = [ ;\n");
	snprintf(text, sizeof(text), "a = 1;\n@include \"%s\"\nb = \"x\";\n", inc);
	write_file(conf, text);
	snprintf(text, sizeof(text), "a = 1;\n@include \"%s\"\n", bad);
	write_file(conf2, text);
	if (geteuid() != 0) {
		CU_ASSERT_EQUAL(include_names_its_file(conf, inc, conf2, bad), 0);
	} else {
		/* Root: refused, by line, before libconfig opens the file. */
		config_init(&cfg);
		CU_ASSERT_EQUAL(conf_read(&cfg, conf, &err), -1);
		snprintf(want, sizeof(want), "%s:2: @include in settings read "
		    "by root", conf);
		CU_ASSERT_EQUAL(strncmp(err.text, want, strlen(want)), 0);
		config_destroy(&cfg);
		/* Indented too; a string that holds the word is no @include. */
		load(&cfg, "a = \"x @include y\";\n\t @include \"/etc/shadow\"\n", &err);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.text, ":2: @include"));
		config_destroy(&cfg);
		CU_ASSERT_PTR_NOT_NULL(load(&cfg, "a = \"@include\";\n", &err));
		config_destroy(&cfg);
		unlink(path);
		/* Not root: read, and its errors name the included file. */
		if ((pid = fork()) == 0) {
			if (setgid(65534) == -1 || setuid(65534) == -1)
				_exit(1);
			_exit(include_names_its_file(conf, inc, conf2, bad) ? 2 : 0);
		}
		CU_ASSERT_FATAL(pid > 0);
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	unlink(conf);
	unlink(conf2);
	unlink(inc);
	unlink(bad);
}

static const struct unit_test tests[] = {
	{ "not a regular file", test_not_a_regular_file },
	{ "root reads only root's files", test_root_reads_only_roots_files },
	{ "too large", test_too_large },
	{ "syntax error names file and line", test_syntax_error_names_file_and_line },
	{ "missing file", test_missing_file },
	{ "typed getters and ranges", test_typed_getters },
	{ "unknown keys are named", test_unknown_key },
	{ "lists of strings and groups", test_lists },
	{ "what is read is what was checked", test_reads_what_it_checked },
	{ "@include: refused when root, else its errors name its file", test_include },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("conf", tests);
}
