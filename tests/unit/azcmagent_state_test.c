/* azcmagent_state_test.c -- the local state as azcmagent keeps it: JSON files, the key's mode, identity removal, stale temps, pid checks, times. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "unit.h"

static char dir[64];

static void
put(const char *name, const char *text)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static int
exists(const char *name)
{
	char	path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void
test_json_files(void)
{
	json_t	*o;
	char	 err[256];

	CU_ASSERT_EQUAL(state_json_load(dir, "machine.json", &o, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(o);
	put("machine.json", "{\"resource\": {\"name\": \"m1\"}, \"cloudUrl\": \"https://x\"}");
	CU_ASSERT_EQUAL_FATAL(state_json_load(dir, "machine.json", &o, err,
	    sizeof(err)), 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(o,
	    "resource"), "name")), "m1");
	json_decref(o);
	put("himds.json", "{\"status\": ");
	CU_ASSERT_EQUAL(state_json_load(dir, "himds.json", &o, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(o);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "himds.json"));
	put("himds.json", "[1, 2]");
	CU_ASSERT_EQUAL(state_json_load(dir, "himds.json", &o, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a JSON object"));
}

/* The access log, read by check and logs: nothing the arcproxy user put in
 * <state>/arcproxy is followed, below it either. */
static void
test_open_log(void)
{
	char	err[512], path[256], log[256];
	int	fd;

	snprintf(path, sizeof(path), "%s/arcproxy", dir);
	CU_ASSERT_EQUAL(mkdir(path, 0750), 0);
	snprintf(path, sizeof(path), "%s/arcproxy/sub", dir);
	CU_ASSERT_EQUAL(mkdir(path, 0750), 0);
	put("arcproxy/sub/access.log", "a line\n");
	put("elsewhere.log", "root's\n");
	snprintf(log, sizeof(log), "%s/arcproxy/sub/access.log", dir);
	fd = state_open_log(dir, log, err, sizeof(err));
	CU_ASSERT(fd != -1);
	close(fd);
	snprintf(log, sizeof(log), "%s/elsewhere.log", dir);
	fd = state_open_log(dir, log, err, sizeof(err));
	CU_ASSERT(fd != -1);
	close(fd);
	/* sub replaced by a symlink to the state dir: not followed. */
	snprintf(log, sizeof(log), "%s/arcproxy/sub/access.log", dir);
	CU_ASSERT_EQUAL(unlink(log), 0);
	CU_ASSERT_EQUAL(rmdir(path), 0);
	CU_ASSERT_EQUAL(symlink("..", path), 0);
	put("access.log", "root's\n");
	CU_ASSERT_EQUAL(state_open_log(dir, log, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/arcproxy/sub: a symbolic link, "
	    "not followed"));
	unlink(path);
	/* At its name: a FIFO, a hard link. */
	snprintf(log, sizeof(log), "%s/arcproxy/access.log", dir);
	CU_ASSERT_EQUAL(mkfifo(log, 0600), 0);
	CU_ASSERT_EQUAL(state_open_log(dir, log, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/arcproxy/access.log: not a "
	    "regular file with one link, refused"));
	unlink(log);
	snprintf(path, sizeof(path), "%s/access.log", dir);
	CU_ASSERT_EQUAL(link(path, log), 0);
	CU_ASSERT_EQUAL(state_open_log(dir, log, err, sizeof(err)), -1);
	unlink(log);
	errno = 0;
	CU_ASSERT_EQUAL(state_open_log(dir, log, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	unlink(path);
}

static void
test_identity(void)
{
	struct stat	st;
	char		err[256], files[128], path[128];

	umask(022);
	CU_ASSERT_EQUAL_FATAL(state_write_key(dir, "KEY", 3, err, sizeof(err)), 0);
	/* The key and certificate are in himds's own <state>/himds. */
	snprintf(path, sizeof(path), "%s/himds/machine.key", dir);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);
	snprintf(path, sizeof(path), "%s/himds", dir);
	CU_ASSERT_EQUAL_FATAL(lstat(path, &st), 0);
	CU_ASSERT(S_ISDIR(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0750);
	CU_ASSERT_EQUAL(state_write(dir, STATE_CERT, "CERT", 4, 0644, err,
	    sizeof(err)), 0);
	state_identity_files(dir, files, sizeof(files));
	CU_ASSERT_STRING_EQUAL(files, "machine.json, machine.crt, machine.key");
	CU_ASSERT_EQUAL(state_identity_remove(dir, err, sizeof(err)), 0);
	state_identity_files(dir, files, sizeof(files));
	CU_ASSERT_STRING_EQUAL(files, "");
	/* Removing what is not there is no error. */
	CU_ASSERT_EQUAL(state_identity_remove(dir, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/himds", dir);
	rmdir(path);
}

/* himds's directory replaced by a symlink (to a victim directory): the key
 * is not written there and the victim keeps its mode. */
static void
test_symlinked_himds_dir(void)
{
	struct stat	before, after;
	char		err[256], victim[128], link[128], path[160];

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(link, sizeof(link), "%s/himds", dir);
	mkdir(victim, 0700);
	stat(victim, &before);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, link), 0);
	CU_ASSERT_EQUAL(state_write_key(dir, "KEY", 3, err, sizeof(err)), -1);
	snprintf(path, sizeof(path), "%s/machine.key", victim);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	stat(victim, &after);
	CU_ASSERT_EQUAL(after.st_mode, before.st_mode);
	CU_ASSERT_EQUAL(after.st_uid, before.st_uid);
	unlink(link);
	rmdir(victim);
}

static void
test_sweep_temps(void)
{
	char	mine[64];

	put("agent.conf", "x");
	put("agent.conf.tmp.999999999", "killed writer");	/* no such pid */
	put("agent.conf.tmp.999999998.0123abcd", "killed writer, random name");
	put("agent.conf.tmp.1", "init's: still running");
	snprintf(mine, sizeof(mine), "agent.conf.tmp.%d", (int)getpid());
	put(mine, "ours");
	put("other.tmp.999999999", "not agent.conf's");
	state_sweep_temps(dir, "agent.conf");
	CU_ASSERT_FALSE(exists("agent.conf.tmp.999999999"));
	CU_ASSERT_FALSE(exists("agent.conf.tmp.999999998.0123abcd"));
	CU_ASSERT_TRUE(exists("agent.conf.tmp.1"));
	CU_ASSERT_TRUE(exists(mine));
	CU_ASSERT_TRUE(exists("agent.conf"));
	CU_ASSERT_TRUE(exists("other.tmp.999999999"));
}

static void
test_daemon_pid(void)
{
	char	 pid[32], comm[64], name[80];
	FILE	*f;
	size_t	 len;

	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	put("arcproxy.pid", pid);
	/* Our pid, but we are not arcproxy: a stale pid file, never signalled. */
	CU_ASSERT_EQUAL(state_daemon_pid(dir, "arcproxy"), -1);
	f = fopen("/proc/self/comm", "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	len = fread(comm, 1, sizeof(comm) - 1, f);
	fclose(f);
	comm[len] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	/* A pid file under our own name: that one is us. */
	snprintf(name, sizeof(name), "%s.pid", comm);
	put(name, pid);
	CU_ASSERT_EQUAL(state_daemon_pid(dir, comm), (long)getpid());
	put("himds.pid", "999999999\n");
	CU_ASSERT_EQUAL(state_daemon_pid(dir, "himds"), -1);
	CU_ASSERT_EQUAL(state_daemon_pid(dir, "guestconfig"), -1);	/* no file */
}

static void
test_lock(void)
{
	char	err[256];
	int	fd;

	CU_ASSERT((fd = state_lock(dir, err, sizeof(err))) >= 0);
	state_unlock(fd);
	CU_ASSERT_EQUAL(state_lock("/nonexistent/dir", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/dir"));
}

static void
test_times(void)
{
	char	buf[32];

	state_rfc3339(0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1970-01-01T00:00:00Z");
	CU_ASSERT_EQUAL(state_parse_rfc3339("2026-11-29T07:04:37Z"), 1795935877);
	CU_ASSERT_EQUAL(state_parse_rfc3339("2026-11-29T07:04:37.250Z"), 1795935877);
	CU_ASSERT_EQUAL(state_parse_rfc3339("2026-11-29T08:04:37+01:00"), 1795935877);
	CU_ASSERT_EQUAL(state_parse_rfc3339("2026-11-29T02:04:37-05:00"), 1795935877);
	CU_ASSERT_EQUAL(state_parse_rfc3339("2026-11-29"), -1);
	CU_ASSERT_EQUAL(state_parse_rfc3339("2026-11-29T07:04:37Zjunk"), -1);
	CU_ASSERT_EQUAL(state_parse_rfc3339(NULL), -1);
}

static const struct unit_test tests[] = {
	{ "JSON state files: absent, good, broken", test_json_files },
	{ "identity files: key mode, list, removal", test_identity },
	{ "stale temp files of killed writers", test_sweep_temps },
	{ "pid files name the right process", test_daemon_pid },
	{ "a symlinked himds dir is refused", test_symlinked_himds_dir },
	{ "the access log: nothing in arcproxy's folder followed",
	    test_open_log },
	{ "the writers' lock", test_lock },
	{ "RFC 3339 times", test_times },
	{ NULL, NULL }
};

int
main(void)
{
	char	cmd[96];
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/azcm_state_test.%d", (int)getpid());
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return 2;
	rc = unit_main("azcmagent_state", tests);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
