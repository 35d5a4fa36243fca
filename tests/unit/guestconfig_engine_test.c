/* guestconfig_engine_test.c -- the engine on targets under a temp dir: drift corrected, audit writes nothing, bad documents, a bad resource fails alone, planted symlinks, time limits, parameters, conditions. */
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "engine.h"
#include "unit.h"

static char	 dir[64];	/* the test's temp dir: every target is under it */

static void
mkpath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%.180s", dir, name);
}

static void
put(const char *name, const char *content, mode_t mode)
{
	char	 path[256];
	FILE	*f;

	mkpath(path, sizeof(path), name);
	unlink(path);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(content, f);
	fclose(f);
	chmod(path, mode);
}

static char *
get(const char *name)
{
	static char	 buf[8192];
	char		 path[256];
	FILE		*f;
	size_t		 n;

	mkpath(path, sizeof(path), name);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static mode_t
mode_of(const char *name)
{
	char		 path[256];
	struct stat	 st;

	mkpath(path, sizeof(path), name);
	if (lstat(path, &st) == -1)
		return 0;
	return st.st_mode & 07777;
}

/* The document text with every "@" replaced by the temp dir. */
static char *
doc_text(const char *fmt)
{
	static char	 buf[16384];
	size_t		 n = 0;

	for (; *fmt != '\0' && n < sizeof(buf) - 80; fmt++) {
		if (*fmt == '@')
			n += snprintf(buf + n, sizeof(buf) - n, "%s", dir);
		else
			buf[n++] = *fmt;
	}
	buf[n] = '\0';
	return buf;
}

static struct gc_doc *
parse(const char *fmt, const char *params)
{
	struct gc_doc	*doc;
	json_t		*p = params ? json_loads(params, 0, NULL) : NULL;
	char		*text = doc_text(fmt), err[512];

	err[0] = '\0';
	doc = gc_doc_parse(text, strlen(text), p, err, sizeof(err));
	if (doc == NULL)
		fprintf(stderr, "gc_doc_parse: %s\n", err);
	json_decref(p);
	return doc;
}

static struct gc_ctx
ctx_for(int apply, int backupfd, int changelogfd)
{
	struct gc_ctx	 ctx;
	static char	 sys[128], acc[128], dpkg[128];

	memset(&ctx, 0, sizeof(ctx));
	ctx.apply = apply;
	ctx.backupfd = backupfd;
	ctx.changelogfd = changelogfd;
	ctx.assignment = "test";
	ctx.nosync = 1;
	snprintf(sys, sizeof(sys), "%s/proc_sys", dir);
	snprintf(acc, sizeof(acc), "%s/root", dir);
	snprintf(dpkg, sizeof(dpkg), "%s/dpkg_status", dir);
	ctx.sysctl_root = sys;
	ctx.accounts_root = acc;
	ctx.dpkg_status = dpkg;
	return ctx;
}

static const char *
status_of(json_t *r, size_t i)
{
	return json_string_value(json_object_get(json_array_get(
	    json_object_get(r, "resources"), i), "complianceStatus"));
}

static const char *
resource_id_of(json_t *r, size_t i)
{
	return json_string_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(r, "resources"), i), "properties"),
	    "ResourceId"));
}

/* Does resource i have a reason with that code whose phrase holds text? */
static int
has_reason(json_t *r, size_t i, const char *code, const char *text)
{
	json_t	*reasons, *x;
	size_t	 k;

	reasons = json_object_get(json_array_get(json_object_get(r,
	    "resources"), i), "reasons");
	json_array_foreach(reasons, k, x) {
		if (code != NULL && strcmp(json_string_value(json_object_get(x,
		    "code")), code) != 0)
			continue;
		if (text == NULL || strstr(json_string_value(json_object_get(x,
		    "phrase")), text) != NULL)
			return 1;
	}
	return 0;
}

/* Does every reason of resource i say that something holds? */
static int
reasons_all_compliant(json_t *r, size_t i)
{
	json_t		*reasons, *x;
	const char	*code;
	size_t		 k;

	reasons = json_object_get(json_array_get(json_object_get(r,
	    "resources"), i), "reasons");
	json_array_foreach(reasons, k, x) {
		code = json_string_value(json_object_get(x, "code"));
		if (strlen(code) < 11 || strcmp(code + strlen(code) - 11,
		    "::COMPLIANT") != 0)
			return 0;
	}
	return json_array_size(reasons) > 0;
}

static void
dump(json_t *r)
{
	char	*s = json_dumps(r, JSON_INDENT(1));

	fprintf(stderr, "%s\n", s);
	free(s);
}

/* Every file under dir: name, mode, size, mtime, ctime, atime, content
 * hash. */
struct snap {
	char	 text[65536];
	size_t	 len;
};

static void
snap_dir(struct snap *s, const char *path)
{
	DIR		*d;
	struct dirent	*e;
	struct stat	 st;
	char		 p[512], *c;
	FILE		*f;
	unsigned long	 h;
	int		 ch, fd;

	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (lstat(p, &st) == -1)
			continue;
		h = 5381;
		/* O_NOATIME: the snapshot itself leaves the atimes alone */
		if (S_ISREG(st.st_mode) && (fd = open(p, O_RDONLY |
		    O_NOATIME)) != -1 && (f = fdopen(fd, "r")) != NULL) {
			while ((ch = getc(f)) != EOF)
				h = h * 33 + ch;
			fclose(f);
		}
		c = s->text + s->len;
		s->len += snprintf(c, sizeof(s->text) - s->len,
		    "%s %o %u:%u %lld m%ld.%09ld c%ld.%09ld a%ld.%09ld %lu\n",
		    p, (unsigned)st.st_mode, (unsigned)st.st_uid,
		    (unsigned)st.st_gid, (long long)st.st_size,
		    (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		    (long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec,
		    /* a directory's atime is the snapshot's own readdir */
		    S_ISDIR(st.st_mode) ? 0L : (long)st.st_atim.tv_sec,
		    S_ISDIR(st.st_mode) ? 0L : st.st_atim.tv_nsec, h);
		if (S_ISDIR(st.st_mode))
			snap_dir(s, p);
	}
	closedir(d);
}

static void
setup_system(void)
{
	char	 p[256];

	mkpath(p, sizeof(p), "proc_sys");
	mkdir(p, 0755);
	mkpath(p, sizeof(p), "proc_sys/net");
	mkdir(p, 0755);
	mkpath(p, sizeof(p), "proc_sys/net/ipv4");
	mkdir(p, 0755);
	put("proc_sys/net/ipv4/ip_forward", "0\n", 0644);
	mkpath(p, sizeof(p), "root");
	mkdir(p, 0755);
	mkpath(p, sizeof(p), "root/etc");
	mkdir(p, 0755);
	put("root/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
	    "alice:x:1001:1001::/home/alice:/bin/sh\n", 0644);
	put("root/etc/group", "root:x:0:\nalice:x:1001:\n", 0644);
	put("root/etc/shadow", "", 0640);
	put("root/etc/gshadow", "", 0640);
	put("dpkg_status", "Package: openssh-server\nStatus: install ok "
	    "installed\nVersion: 1:9.2p1-2\n\nPackage: telnetd\nStatus: "
	    "deinstall ok config-files\nVersion: 0.17\n\n", 0644);
}

static void
test_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/gcengine_test.%d", (int)getpid());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
	setup_system();
}

static const char *drift_doc =
    "{\"schemaVersion\": 1, \"name\": \"drift\", \"resources\": ["
    "{\"id\": \"cfg\", \"type\": \"file\", \"properties\": {\"path\": "
    "\"@/app.conf\", \"content\": \"key = good\\n\", \"mode\": \"0600\", "
    "\"owner\": \"root\"}},"
    "{\"id\": \"sshd\", \"type\": \"file_line\", \"properties\": {\"path\": "
    "\"@/sshd_config\", \"regex\": \"^PermitRootLogin[[:space:]]\", "
    "\"line\": \"PermitRootLogin no\"}},"
    "{\"id\": \"fwd\", \"type\": \"sysctl\", \"properties\": {\"name\": "
    "\"net.ipv4.ip_forward\", \"value\": 1}},"
    "{\"id\": \"data\", \"type\": \"directory\", \"properties\": {\"path\": "
    "\"@/data\", \"mode\": \"0750\"}}]}";

static void
test_drift_then_apply(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	char		 p[256], *log;
	int		 bfd, lfd, backups = 0;
	DIR		*d;
	struct dirent	*e;
	struct stat	 st;

	put("app.conf", "key = good\n", 0600);
	put("sshd_config", "Port 22\nPermitRootLogin no\nUsePAM yes\n", 0640);
	CU_ASSERT_EQUAL(chown(doc_text("@/sshd_config"), 65534, 0), 0);
	mkpath(p, sizeof(p), "backup");
	mkdir(p, 0700);
	bfd = open(p, O_RDONLY | O_DIRECTORY);
	mkpath(p, sizeof(p), "changes.log");
	lfd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
	CU_ASSERT_FATAL(bfd != -1 && lfd != -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc = parse(drift_doc, NULL));
	CU_ASSERT_EQUAL(gc_doc_count(doc), 4);
	CU_ASSERT_EQUAL(gc_doc_invalid(doc), 0);

	/* The drift: mode and content of one, a line of the other. */
	put("app.conf", "key = evil\n", 0644);
	put("sshd_config", "Port 22\nPermitRootLogin yes\nUsePAM yes\n", 0640);
	CU_ASSERT_EQUAL(chown(doc_text("@/sshd_config"), 65534, 0), 0);
	ctx = ctx_for(1, bfd, lfd);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r,
	    "testComplianceStatus")), "NonCompliant");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r,
	    "complianceStatus")), "Compliant");
	CU_ASSERT(has_reason(r, 0, "GC::FILE::MODE", "mode is 0644, expected "
	    "0600"));
	CU_ASSERT(has_reason(r, 0, "GC::FILE::CONTENT", "content is 11 bytes"));
	CU_ASSERT(has_reason(r, 0, "GC::FILE::COMPLIANT", "mode 0600"));
	CU_ASSERT(has_reason(r, 1, "GC::FILE_LINE::LINE", "line 2 is "
	    "\"PermitRootLogin yes\", expected \"PermitRootLogin no\""));
	CU_ASSERT(has_reason(r, 2, "GC::SYSCTL::VALUE", "is \"0\", expected "
	    "\"1\""));
	CU_ASSERT(has_reason(r, 3, "GC::DIRECTORY::MISSING", NULL));
	CU_ASSERT(json_integer_value(json_object_get(r, "changed")) >= 4);
	if (strcmp(json_string_value(json_object_get(r, "complianceStatus")),
	    "Compliant") != 0)
		dump(r);
	json_decref(r);

	/* Restored: content and mode; file_line kept owner and mode. */
	CU_ASSERT_STRING_EQUAL(get("app.conf"), "key = good\n");
	CU_ASSERT_EQUAL(mode_of("app.conf"), 0600);
	CU_ASSERT_STRING_EQUAL(get("sshd_config"),
	    "Port 22\nPermitRootLogin no\nUsePAM yes\n");
	CU_ASSERT_EQUAL(mode_of("sshd_config"), 0640);
	CU_ASSERT_EQUAL(stat(doc_text("@/sshd_config"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 65534);
	CU_ASSERT_STRING_EQUAL(get("proc_sys/net/ipv4/ip_forward"), "1\n");
	CU_ASSERT_EQUAL(mode_of("data"), 0750);

	/* The previous contents are in the backup dir, each change logged. */
	d = fdopendir(dup(bfd));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		backups++;
		snprintf(p, sizeof(p), "backup/%.200s", e->d_name);
		if (strstr(e->d_name, "app.conf") != NULL)
			CU_ASSERT_STRING_EQUAL(get(p), "key = evil\n");
		if (strstr(e->d_name, "sshd_config") != NULL)
			CU_ASSERT_PTR_NOT_NULL(strstr(get(p),
			    "PermitRootLogin yes"));
		CU_ASSERT_EQUAL(mode_of(p), 0600);
	}
	closedir(d);
	CU_ASSERT_EQUAL(backups, 2);
	log = get("changes.log");
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, " test [file]cfg "));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "app.conf: rewritten"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "sshd_config: 1 line(s) replaced"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "[sysctl]fwd sysctl "
	    "net.ipv4.ip_forward: \"0\" -> \"1\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "[directory]data"));

	/* Nothing to do the next time: no change, Compliant. */
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r,
	    "testComplianceStatus")), "Compliant");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "changed")), 0);
	json_decref(r);

	/* Mode alone drifts: set on the fd, the content untouched. */
	chmod(doc_text("@/app.conf"), 0666);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "changed")), 1);
	CU_ASSERT_EQUAL(mode_of("app.conf"), 0600);
	CU_ASSERT_PTR_NOT_NULL(strstr(get("changes.log"),
	    "app.conf: mode 0666 -> 0600"));
	json_decref(r);
	gc_doc_free(doc);
	close(bfd);
	close(lfd);
}

static void
test_audit_changes_nothing(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	struct snap	*before, *after;
	json_t		*r;
	const char	*audit_doc =
	    "{\"schemaVersion\": 1, \"name\": \"audit\", \"resources\": ["
	    "{\"id\": \"cfg\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/app.conf\", \"content\": \"key = good\\n\", \"mode\": "
	    "\"0600\"}},"
	    "{\"id\": \"sshd\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/sshd_config\", \"regex\": \"^PermitRootLogin\", "
	    "\"line\": \"PermitRootLogin no\"}},"
	    "{\"id\": \"gone\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/old.conf\", \"ensure\": \"absent\"}},"
	    "{\"id\": \"fwd\", \"type\": \"sysctl\", \"properties\": {\"name\": "
	    "\"net.ipv4.ip_forward\", \"value\": \"1\"}},"
	    "{\"id\": \"data\", \"type\": \"directory\", \"properties\": "
	    "{\"path\": \"@/data2\"}},"
	    "{\"id\": \"bob\", \"type\": \"user\", \"properties\": {\"name\": "
	    "\"bob\"}},"
	    "{\"id\": \"alice\", \"type\": \"user\", \"properties\": {\"name\": "
	    "\"alice\", \"ensure\": \"absent\"}}]}";

	put("app.conf", "key = evil\n", 0644);
	put("sshd_config", "PermitRootLogin yes\n", 0644);
	put("old.conf", "x\n", 0644);
	put("proc_sys/net/ipv4/ip_forward", "0\n", 0644);
	before = calloc(1, sizeof(*before));
	after = calloc(1, sizeof(*after));
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc = parse(audit_doc, NULL));
	snap_dir(before, dir);
	ctx = ctx_for(0, -1, -1);
	r = gc_evaluate(doc, &ctx);
	snap_dir(after, dir);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r,
	    "complianceStatus")), "NonCompliant");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "changed")), 0);
	CU_ASSERT(has_reason(r, 0, "GC::FILE::MODE", "mode is 0644, expected "
	    "0600"));
	CU_ASSERT(has_reason(r, 1, "GC::FILE_LINE::LINE", "PermitRootLogin "
	    "yes"));
	CU_ASSERT(has_reason(r, 2, "GC::FILE::PRESENT", "expected absent"));
	CU_ASSERT(has_reason(r, 3, "GC::SYSCTL::VALUE", NULL));
	CU_ASSERT(has_reason(r, 4, "GC::DIRECTORY::MISSING", NULL));
	CU_ASSERT(has_reason(r, 5, "GC::USER::MISSING", "user bob does not "
	    "exist"));
	CU_ASSERT(has_reason(r, 6, "GC::USER::PRESENT", "uid 1001"));
	/* Every checksum, mode, size, mtime, ctime and atime as before. */
	CU_ASSERT(before->len > 0);
	CU_ASSERT_EQUAL(before->len, after->len);
	CU_ASSERT(strcmp(before->text, after->text) == 0);
	if (strcmp(before->text, after->text) != 0)
		fprintf(stderr, "before:\n%s\nafter:\n%s\n", before->text,
		    after->text);
	json_decref(r);
	gc_doc_free(doc);
	free(before);
	free(after);
}

static void
test_bad_documents(void)
{
	static const struct {
		const char	*doc;
		const char	*params;
		const char	*why;
	} bad[] = {
		{ "not json", NULL, "not JSON" },
		{ "[1]", NULL, "not a JSON object" },
		{ "{\"schemaVersion\": 2, \"name\": \"x\", \"resources\": []}",
		    NULL, "schemaVersion" },
		{ "{\"schemaVersion\": 1, \"resources\": []}", NULL, "name" },
		{ "{\"schemaVersion\": 1, \"name\": \"x\"}", NULL, "resources" },
		{ "{\"schemaVersion\": 1, \"name\": \"x\", \"resources\": [], "
		    "\"extra\": 1}", NULL, "unknown property \"extra\"" },
		{ "{\"schemaVersion\": 1, \"name\": \"x\", \"resources\": ["
		    "{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/a\"}}, {\"id\": \"a\", \"type\": \"file\", "
		    "\"properties\": {\"path\": \"/b\"}}]}", NULL, "used twice" },
		{ "{\"schemaVersion\": 1, \"name\": \"x\", \"resources\": ["
		    "{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/a\"}}]}", "[{\"name\": \"a;mode\", \"value\": "
		    "\"1\"}]", "[type]id;property" },
		{ "{\"schemaVersion\": 1, \"name\": \"x\", \"resources\": ["
		    "{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/a\"}}]}", "[{\"name\": \"[directory]a;mode\", "
		    "\"value\": \"0700\"}]", "no resource [directory]a" },
		{ "{\"schemaVersion\": 1, \"name\": \"x\", \"parameters\": "
		    "[\"[command_output]a;timeoutMs\"], \"resources\": ["
		    "{\"id\": \"a\", \"type\": \"command_output\", \"properties\": "
		    "{\"argv\": [\"/bin/true\"], \"regex\": \"x\", \"timeoutMs\": "
		    "10}}]}", "[{\"name\": \"[command_output]a;timeoutMs\", "
		    "\"value\": \"ten\"}]", "not an integer" },
		/* The cloud's unsigned values set only what the signed
		 * document declares: not a file's path and content. */
		{ "{\"schemaVersion\": 1, \"name\": \"x\", \"resources\": ["
		    "{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/tmp/a\", \"content\": \"a\\n\"}}]}",
		    "[{\"name\": \"[file]a;path\", \"value\": \"/etc/shadow\"}]",
		    "not one of the document's \"parameters\"" },
		{ "{\"schemaVersion\": 1, \"name\": \"x\", \"parameters\": "
		    "[\"[file]a;mode\"], \"resources\": [{\"id\": \"a\", \"type\": "
		    "\"command_output\", \"properties\": {\"argv\": [\"/bin/true\"], "
		    "\"regex\": \"x\"}}]}", "[{\"name\": "
		    "\"[command_output]a;argv\", \"value\": [\"/bin/sh\"]}]",
		    "not one of the document's \"parameters\"" },
		{ "{\"schemaVersion\": 1, \"name\": \"x\", \"parameters\": "
		    "[\"mode\"], \"resources\": []}", NULL, "parameters: expected" },
	};
	json_t		*p;
	char		 err[512];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = bad[i].params ? json_loads(bad[i].params, 0, NULL) : NULL;
		err[0] = '\0';
		CU_ASSERT_PTR_NULL(gc_doc_parse(bad[i].doc, strlen(bad[i].doc),
		    p, err, sizeof(err)));
		if (strstr(err, bad[i].why) == NULL) {
			fprintf(stderr, "bad[%zu]: \"%s\" lacks \"%s\"\n", i,
			    err, bad[i].why);
			CU_FAIL("error does not say why");
		}
		json_decref(p);
	}
}

static void
test_unknown_type_fails_alone(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	const char	*text =
	    "{\"schemaVersion\": 1, \"name\": \"mixed\", \"resources\": ["
	    "{\"id\": \"ok1\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/one\", \"mode\": \"0600\"}},"
	    "{\"id\": \"what\", \"type\": \"frobnicate\", \"properties\": {}},"
	    "{\"id\": \"badmode\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/two\", \"mode\": \"rw-r--r--\"}},"
	    "{\"id\": \"typo\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/two\", \"moed\": \"0600\"}},"
	    "{\"id\": \"badre\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/two\", \"regex\": \"([\"}},"
	    "{\"id\": \"relpath\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"true\"], \"regex\": \"^\"}},"
	    "{\"id\": \"ok2\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/two\"}}]}";

	put("one", "1", 0644);
	put("two", "2", 0644);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc = parse(text, NULL));
	CU_ASSERT_EQUAL(gc_doc_count(doc), 7);
	CU_ASSERT_EQUAL(gc_doc_invalid(doc), 5);
	ctx = ctx_for(1, -1, -1);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_STRING_EQUAL(status_of(r, 0), "Compliant");
	CU_ASSERT_EQUAL(mode_of("one"), 0600);	/* the others still applied */
	CU_ASSERT_STRING_EQUAL(status_of(r, 1), "NonCompliant");
	CU_ASSERT(has_reason(r, 1, "GC::RESOURCE::UNKNOWNTYPE",
	    "unknown resource type \"frobnicate\""));
	CU_ASSERT(has_reason(r, 2, "GC::RESOURCE::INVALID", "mode"));
	CU_ASSERT(has_reason(r, 3, "GC::RESOURCE::INVALID",
	    "unknown property \"moed\""));
	CU_ASSERT(has_reason(r, 4, "GC::RESOURCE::INVALID", "regex"));
	CU_ASSERT(has_reason(r, 5, "GC::RESOURCE::INVALID", "absolute"));
	CU_ASSERT_STRING_EQUAL(status_of(r, 6), "Compliant");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r,
	    "complianceStatus")), "NonCompliant");
	CU_ASSERT_STRING_EQUAL(resource_id_of(r, 1), "[frobnicate]what");
	json_decref(r);
	gc_doc_free(doc);
}

static void
test_planted_symlink_not_followed(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	char		 p[256], q[256];
	struct stat	 st;
	const char	*text =
	    "{\"schemaVersion\": 1, \"name\": \"links\", \"resources\": ["
	    "{\"id\": \"last\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/target\", \"content\": \"pwned\\n\", \"mode\": \"0666\"}},"
	    "{\"id\": \"middle\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/userdir/secret\", \"regex\": \"^x\", \"line\": "
	    "\"x pwned\"}},"
	    "{\"id\": \"rootlink\", \"type\": \"file\", \"properties\": "
	    "{\"path\": \"@/rootdir/secret\", \"mode\": \"0600\"}},"
	    "{\"id\": \"gone\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/target2\", \"ensure\": \"absent\"}}]}";

	/* A secret of root's, and symlinks to it owned by nobody. */
	mkpath(p, sizeof(p), "real");
	mkdir(p, 0700);
	put("real/secret", "root only\n", 0600);
	mkpath(p, sizeof(p), "target");
	mkpath(q, sizeof(q), "real/secret");
	CU_ASSERT_EQUAL_FATAL(symlink(q, p), 0);
	CU_ASSERT_EQUAL(lchown(p, 65534, 65534), 0);
	mkpath(p, sizeof(p), "userdir");
	mkpath(q, sizeof(q), "real");
	CU_ASSERT_EQUAL_FATAL(symlink(q, p), 0);
	CU_ASSERT_EQUAL(lchown(p, 65534, 65534), 0);
	mkpath(p, sizeof(p), "target2");
	mkpath(q, sizeof(q), "real/secret");
	CU_ASSERT_EQUAL_FATAL(symlink(q, p), 0);
	CU_ASSERT_EQUAL(lchown(p, 65534, 65534), 0);
	/* One owned by root is followed. */
	mkpath(p, sizeof(p), "rootdir");
	CU_ASSERT_EQUAL_FATAL(symlink("real", p), 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(doc = parse(text, NULL));
	ctx = ctx_for(1, -1, -1);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_STRING_EQUAL(status_of(r, 0), "NonCompliant");
	CU_ASSERT(has_reason(r, 0, "GC::FILE::SYMLINK", "is a symlink owned by "
	    "uid 65534, not followed"));
	CU_ASSERT(has_reason(r, 1, "GC::FILE_LINE::SYMLINK", "userdir is a "
	    "symlink"));
	CU_ASSERT_STRING_EQUAL(status_of(r, 2), "Compliant");
	/* "absent" removes the link itself, never what it points at */
	CU_ASSERT_STRING_EQUAL(status_of(r, 3), "Compliant");
	CU_ASSERT(has_reason(r, 3, "GC::FILE::PRESENT", "exists (a symlink)"));
	CU_ASSERT_EQUAL(lstat(doc_text("@/target2"), &st), -1);
	/* The secret and the other links are as they were. */
	CU_ASSERT_STRING_EQUAL(get("real/secret"), "root only\n");
	CU_ASSERT_EQUAL(mode_of("real/secret"), 0600);
	CU_ASSERT_EQUAL(lstat(doc_text("@/target"), &st), 0);
	CU_ASSERT(S_ISLNK(st.st_mode));
	json_decref(r);
	gc_doc_free(doc);

	/* A hard link to the secret: its mode is not changed through it. */
	mkpath(p, sizeof(p), "hard");
	mkpath(q, sizeof(q), "real/secret");
	CU_ASSERT_EQUAL_FATAL(link(q, p), 0);
	doc = parse("{\"schemaVersion\": 1, \"name\": \"h\", \"resources\": ["
	    "{\"id\": \"h\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/hard\", \"mode\": \"0644\"}}]}", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT(has_reason(r, 0, "GC::FILE::LINKS", "2 hard links"));
	CU_ASSERT_EQUAL(mode_of("real/secret"), 0600);
	unlink(p);
	json_decref(r);
	gc_doc_free(doc);
}

static long long
ms_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_command_output(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	long long	 t0, took;
	const char	*text =
	    "{\"schemaVersion\": 1, \"name\": \"cmd\", \"resources\": ["
	    "{\"id\": \"slow\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/sleep\", \"10\"], \"regex\": \".\", "
	    "\"timeoutMs\": 300}},"
	    /* a grandchild holding stdout open is killed too */
	    "{\"id\": \"bg\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/sh\", \"-c\", \"/bin/sleep 10 & echo started\"], "
	    "\"regex\": \"started\", \"timeoutMs\": 300}},"
	    "{\"id\": \"echo\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/echo\", \"hello world\"], \"regex\": "
	    "\"^hello [a-z]+$\", \"exitCode\": 0}},"
	    "{\"id\": \"nomatch\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/echo\", \"PasswordAuthentication yes\"], "
	    "\"regex\": \"yes\", \"ensure\": \"nomatch\"}},"
	    "{\"id\": \"exit\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/false\"], \"regex\": \"^\", \"exitCode\": 0}},"
	    "{\"id\": \"noexec\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/nonexistent/tool\"], \"regex\": \"^\"}},"
	    /* no shell: the metacharacters are one argument */
	    "{\"id\": \"noshell\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/echo\", \"$(id); `id`\"], \"regex\": "
	    "\"^[$][(]id[)]; `id`$\"}}]}";

	CU_ASSERT_PTR_NOT_NULL_FATAL(doc = parse(text, NULL));
	CU_ASSERT_EQUAL(gc_doc_invalid(doc), 0);
	ctx = ctx_for(1, -1, -1);
	t0 = ms_now();
	r = gc_evaluate(doc, &ctx);
	took = ms_now() - t0;
	CU_ASSERT(took < 3000);
	CU_ASSERT(has_reason(r, 0, "GC::COMMAND_OUTPUT::TIMEOUT",
	    "killed after its time limit of 300 ms"));
	CU_ASSERT(has_reason(r, 1, "GC::COMMAND_OUTPUT::TIMEOUT", NULL));
	CU_ASSERT_STRING_EQUAL(status_of(r, 2), "Compliant");
	CU_ASSERT(has_reason(r, 3, "GC::COMMAND_OUTPUT::OUTPUT", "matches "
	    "/yes/, expected it not to"));
	CU_ASSERT(has_reason(r, 4, "GC::COMMAND_OUTPUT::EXIT", "exited 1, "
	    "expected 0"));
	CU_ASSERT(has_reason(r, 5, "GC::COMMAND_OUTPUT::EXEC", "/nonexistent"));
	CU_ASSERT_STRING_EQUAL(status_of(r, 6), "Compliant");
	/* audit only: applying says so */
	CU_ASSERT(has_reason(r, 3, "GC::COMMAND_OUTPUT::NOTSUPPORTED",
	    "audit only"));
	if (took >= 3000)
		dump(r);
	json_decref(r);
	gc_doc_free(doc);

	/* An fd of the caller's, without O_CLOEXEC, does not reach it. */
	CU_ASSERT_EQUAL_FATAL(dup2(1, 50), 50);
	doc = parse("{\"schemaVersion\": 1, \"name\": \"c\", \"resources\": ["
	    "{\"id\": \"fds\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/sh\", \"-c\", \"ls /proc/$$/fd\"], \"regex\": "
	    "\"^2$\"}},"
	    "{\"id\": \"nofd\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/sh\", \"-c\", \"ls /proc/$$/fd\"], \"regex\": "
	    "\"^50$\", \"ensure\": \"nomatch\"}}]}", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_STRING_EQUAL(status_of(r, 0), "Compliant");
	CU_ASSERT_STRING_EQUAL(status_of(r, 1), "Compliant");
	close(50);
	json_decref(r);
	gc_doc_free(doc);

	/* The context's ceiling beats a longer timeoutMs. */
	doc = parse("{\"schemaVersion\": 1, \"name\": \"c\", \"resources\": ["
	    "{\"id\": \"s\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/sleep\", \"10\"], \"regex\": \".\", "
	    "\"timeoutMs\": 60000}}]}", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	ctx.command_timeout_ms = 200;
	t0 = ms_now();
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT(ms_now() - t0 < 2000);
	CU_ASSERT(has_reason(r, 0, "GC::COMMAND_OUTPUT::TIMEOUT", "200 ms"));
	json_decref(r);
	gc_doc_free(doc);
}

/* Where another user can change a path, root neither follows its own
 * symlinks there nor runs a program from there. */
static void
test_untrusted_places(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	char		 p[256];

	if (geteuid() != 0)
		return;
	mkpath(p, sizeof(p), "real2");
	mkdir(p, 0700);
	put("real2/secret", "root only\n", 0600);
	/* A directory of nobody's, with root's link and root's script in it. */
	mkpath(p, sizeof(p), "theirs");
	CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
	CU_ASSERT_EQUAL_FATAL(chown(p, 65534, 65534), 0);
	mkpath(p, sizeof(p), "theirs/link");
	CU_ASSERT_EQUAL_FATAL(symlink(doc_text("@/real2"), p), 0);
	put("theirs/tool", "#!/bin/sh\necho ran\n", 0755);
	/* Root's directory, a script of nobody's and one of root's. */
	put("nobodys-tool", "#!/bin/sh\necho ran\n", 0755);
	mkpath(p, sizeof(p), "nobodys-tool");
	CU_ASSERT_EQUAL_FATAL(chown(p, 65534, 65534), 0);
	put("roots-tool", "#!/bin/sh\necho ran\n", 0755);
	put("open-tool", "#!/bin/sh\necho ran\n", 0757);

	doc = parse("{\"schemaVersion\": 1, \"name\": \"u\", \"resources\": ["
	    "{\"id\": \"link\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/theirs/link/secret\", \"mode\": \"0644\"}},"
	    "{\"id\": \"tool\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"@/theirs/tool\"], \"regex\": \"ran\"}},"
	    "{\"id\": \"nobodys\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"@/nobodys-tool\"], \"regex\": \"ran\"}},"
	    "{\"id\": \"open\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"@/open-tool\"], \"regex\": \"ran\"}},"
	    "{\"id\": \"roots\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"@/roots-tool\"], \"regex\": \"ran\"}}]}", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	ctx = ctx_for(1, -1, -1);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT(has_reason(r, 0, "GC::FILE::SYMLINK", "link is a symlink in a "
	    "directory another user can change (owned by uid 65534, not root: "
	    "refused), not followed"));
	CU_ASSERT_EQUAL(mode_of("real2/secret"), 0600);
	CU_ASSERT(has_reason(r, 1, "GC::COMMAND_OUTPUT::EXEC", "theirs: owned "
	    "by uid 65534, not root: refused"));
	CU_ASSERT(has_reason(r, 2, "GC::COMMAND_OUTPUT::EXEC", "nobodys-tool: "
	    "owned by uid 65534, not root: refused"));
	CU_ASSERT(has_reason(r, 3, "GC::COMMAND_OUTPUT::EXEC", "open-tool: mode "
	    "0757, group 0: writable by another user: refused"));
	CU_ASSERT_STRING_EQUAL(status_of(r, 4), "Compliant");
	json_decref(r);
	gc_doc_free(doc);
}

static void
test_parameters(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	const char	*text =
	    "{\"schemaVersion\": 1, \"name\": \"params\", \"parameters\": "
	    "[\"[file]f;mode\", \"[command_output]cmd;timeoutMs\", "
	    "\"[sysctl]fwd;value\"], \"resources\": ["
	    "{\"id\": \"f\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/p.conf\", \"mode\": \"0644\"}},"
	    "{\"id\": \"cmd\", \"type\": \"command_output\", \"properties\": "
	    "{\"argv\": [\"/bin/sleep\", \"5\"], \"regex\": \".\", "
	    "\"timeoutMs\": 60000}},"
	    "{\"id\": \"fwd\", \"type\": \"sysctl\", \"properties\": {\"name\": "
	    "\"net.ipv4.ip_forward\"}}]}";

	put("p.conf", "", 0644);
	put("proc_sys/net/ipv4/ip_forward", "0\n", 0644);
	/* Without parameters: compliant; the sysctl lacks its value. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc = parse(text, NULL));
	CU_ASSERT_EQUAL(gc_doc_invalid(doc), 1);
	gc_doc_free(doc);
	doc = parse(text, "[{\"name\": \"[file]f;mode\", \"value\": \"0600\"},"
	    "{\"name\": \"[command_output]cmd;timeoutMs\", \"value\": \"150\"},"
	    "{\"name\": \"[sysctl]fwd;value\", \"value\": \"0\"}]");
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_EQUAL(gc_doc_invalid(doc), 0);
	ctx = ctx_for(0, -1, -1);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT(has_reason(r, 0, "GC::FILE::MODE", "mode is 0644, expected "
	    "0600"));
	CU_ASSERT(has_reason(r, 1, "GC::COMMAND_OUTPUT::TIMEOUT", "150 ms"));
	CU_ASSERT_STRING_EQUAL(status_of(r, 2), "Compliant");
	json_decref(r);
	gc_doc_free(doc);
}

static void
test_conditions(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	const char	*text =
	    "{\"schemaVersion\": 1, \"name\": \"cond\", \"resources\": ["
	    "{\"id\": \"all\", \"audit\": {\"allOf\": ["
	    "  {\"type\": \"file\", \"properties\": {\"path\": \"@/a\"}},"
	    "  {\"type\": \"file\", \"properties\": {\"path\": \"@/b\", "
	    "\"ensure\": \"absent\"}}]}},"
	    "{\"id\": \"any\", \"audit\": {\"anyOf\": ["
	    "  {\"type\": \"file\", \"properties\": {\"path\": \"@/b\"}},"
	    "  {\"type\": \"file\", \"properties\": {\"path\": \"@/a\", "
	    "\"ensure\": \"absent\"}}]}},"
	    "{\"id\": \"not\", \"audit\": {\"not\": "
	    "  {\"type\": \"file\", \"properties\": {\"path\": \"@/a\"}}}},"
	    "{\"id\": \"notany\", \"audit\": {\"not\": {\"anyOf\": ["
	    "  {\"type\": \"file\", \"properties\": {\"path\": \"@/b\"}},"
	    "  {\"type\": \"package\", \"properties\": {\"name\": \"telnetd\"}}"
	    "]}}},"
	    "{\"id\": \"guarded\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/a\", \"mode\": \"0600\"}, \"audit\": {\"allOf\": ["
	    "  {\"type\": \"package\", \"properties\": {\"name\": "
	    "\"openssh-server\", \"version\": \"1:9.2p1-2\"}},"
	    "  {\"not\": {\"type\": \"user\", \"properties\": {\"name\": "
	    "\"alice\"}}}]}},"
	    "{\"id\": \"bad\", \"audit\": {\"oneOf\": []}}]}";

	put("a", "a", 0644);
	unlink(doc_text("@/b"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc = parse(text, NULL));
	CU_ASSERT_EQUAL(gc_doc_invalid(doc), 1);
	ctx = ctx_for(1, -1, -1);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_STRING_EQUAL(status_of(r, 0), "Compliant");
	CU_ASSERT_STRING_EQUAL(status_of(r, 1), "NonCompliant");
	CU_ASSERT(has_reason(r, 1, "GC::AUDIT::CONDITION", NULL));
	CU_ASSERT(has_reason(r, 1, "GC::FILE::MISSING", "/b does not exist"));
	CU_ASSERT(has_reason(r, 1, "GC::FILE::PRESENT", "expected absent"));
	CU_ASSERT(has_reason(r, 1, "GC::AUDIT::NOTSUPPORTED", "audit only"));
	CU_ASSERT_STRING_EQUAL(status_of(r, 2), "NonCompliant");
	CU_ASSERT(has_reason(r, 2, "GC::AUDIT::NOT", "expected not: "));
	CU_ASSERT_STRING_EQUAL(status_of(r, 3), "Compliant");
	CU_ASSERT(has_reason(r, 3, "GC::AUDIT::COMPLIANT", "as wanted, not so: "
	    "package telnetd is not installed"));
	/* A reason never contradicts the status it explains. */
	CU_ASSERT(reasons_all_compliant(r, 0));
	CU_ASSERT(reasons_all_compliant(r, 3));
	/* The file's own part is applied; the condition (alice exists)
	 * still fails it, with why. */
	CU_ASSERT_STRING_EQUAL(status_of(r, 4), "NonCompliant");
	CU_ASSERT_EQUAL(mode_of("a"), 0600);
	CU_ASSERT(has_reason(r, 4, "GC::AUDIT::NOT", "user alice exists"));
	CU_ASSERT(has_reason(r, 5, "GC::RESOURCE::INVALID", "oneOf"));
	CU_ASSERT_STRING_EQUAL(resource_id_of(r, 0), "[audit]all");
	json_decref(r);
	gc_doc_free(doc);
}

static void
test_accounts_and_packages(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	const char	*text =
	    "{\"schemaVersion\": 1, \"name\": \"acct\", \"resources\": ["
	    "{\"id\": \"svc\", \"type\": \"group\", \"properties\": {\"name\": "
	    "\"svc\"}}, {\"id\": \"svc\", \"type\": \"user\", \"properties\": "
	    "{\"name\": \"svc\"}}]}";
	char		*pw;

	/* duplicate ids are refused, even of two types */
	CU_ASSERT_PTR_NULL(parse(text, NULL));
	doc = parse("{\"schemaVersion\": 1, \"name\": \"acct\", \"resources\": ["
	    "{\"id\": \"svcgroup\", \"type\": \"group\", \"properties\": "
	    "{\"name\": \"svc\", \"gid\": 2345}},"
	    "{\"id\": \"svc\", \"type\": \"user\", \"properties\": {\"name\": "
	    "\"svc\", \"uid\": 2345, \"shell\": \"/usr/sbin/nologin\"}},"
	    "{\"id\": \"alice\", \"type\": \"user\", \"properties\": {\"name\": "
	    "\"alice\", \"ensure\": \"absent\"}},"
	    "{\"id\": \"ssh\", \"type\": \"package\", \"properties\": {\"name\": "
	    "\"openssh-server\"}},"
	    "{\"id\": \"telnet\", \"type\": \"package\", \"properties\": "
	    "{\"name\": \"telnetd\"}},"
	    "{\"id\": \"ver\", \"type\": \"package\", \"properties\": "
	    "{\"name\": \"openssh-server\", \"version\": \"1:9.9\"}}]}", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	ctx = ctx_for(1, -1, -1);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_STRING_EQUAL(status_of(r, 0), "Compliant");
	CU_ASSERT(has_reason(r, 0, "GC::GROUP::MISSING", NULL));
	CU_ASSERT_STRING_EQUAL(status_of(r, 1), "Compliant");
	CU_ASSERT_STRING_EQUAL(status_of(r, 2), "Compliant");
	pw = get("root/etc/passwd");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pw);
	CU_ASSERT_PTR_NOT_NULL(strstr(pw, "svc:x:2345:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(pw, ":/usr/sbin/nologin"));
	CU_ASSERT_PTR_NULL(strstr(pw, "alice"));
	CU_ASSERT_PTR_NOT_NULL(strstr(get("root/etc/group"), "svc:x:2345:"));
	CU_ASSERT_STRING_EQUAL(status_of(r, 3), "Compliant");
	CU_ASSERT(has_reason(r, 3, "GC::PACKAGE::COMPLIANT", "1:9.2p1-2"));
	CU_ASSERT_STRING_EQUAL(status_of(r, 4), "NonCompliant");
	CU_ASSERT(has_reason(r, 4, "GC::PACKAGE::MISSING", "telnetd is not "
	    "installed"));
	CU_ASSERT(has_reason(r, 4, "GC::PACKAGE::NOTSUPPORTED", "audit only"));
	CU_ASSERT(has_reason(r, 5, "GC::PACKAGE::VERSION", "version 1:9.2p1-2 "
	    "is installed, expected 1:9.9"));
	json_decref(r);
	gc_doc_free(doc);
}

static void
test_file_line_edits(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;

	put("l1", "a\nPermitRootLogin yes\nb\n#PermitRootLogin no\n"
	    "PermitRootLogin prohibit-password", 0600);
	put("l2", "a\nb", 0644);
	put("l3", "keep\nTelnet on\nkeep2\nTelnet off", 0644);
	doc = parse("{\"schemaVersion\": 1, \"name\": \"l\", \"resources\": ["
	    "{\"id\": \"replace\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l1\", \"regex\": \"^PermitRootLogin\", \"line\": "
	    "\"PermitRootLogin no\"}},"
	    "{\"id\": \"append\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l2\", \"regex\": \"^c=\", \"line\": \"c=1\"}},"
	    "{\"id\": \"remove\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l3\", \"regex\": \"^Telnet\", \"ensure\": "
	    "\"absent\"}},"
	    "{\"id\": \"auditonly\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l2\", \"regex\": \"^zzz\"}},"
	    "{\"id\": \"nomatch\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l2\", \"regex\": \"^x\", \"line\": \"y\"}},"
	    "{\"id\": \"huge\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l2\", \"regex\": \"((a{1,100}){100}){100}\"}},"
	    "{\"id\": \"stacked\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l2\", \"regex\": \"^NTPS++++++++++++++++++++x$\"}},"
	    "{\"id\": \"nested\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l2\", \"regex\": \"((((((a)+)+)+)+)+)+\"}},"
	    "{\"id\": \"shapely\", \"type\": \"file_line\", \"properties\": "
	    "{\"path\": \"@/l2\", \"regex\": \"^(ab+|[+*]c)*[]x]?(d{2})+$\"}}]}",
	    NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	/* a line its regex misses would be appended at every run; nested
	 * bounds, repeats of repeats and deep nests of repeats would take the
	 * machine's memory to compile (glibc: over 700 MB for 20 '+') */
	CU_ASSERT_EQUAL(gc_doc_invalid(doc), 4);
	ctx = ctx_for(1, -1, -1);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_STRING_EQUAL(get("l1"), "a\nPermitRootLogin no\nb\n"
	    "#PermitRootLogin no\nPermitRootLogin no");
	CU_ASSERT_EQUAL(mode_of("l1"), 0600);
	CU_ASSERT_STRING_EQUAL(get("l2"), "a\nb\nc=1\n");
	CU_ASSERT_STRING_EQUAL(get("l3"), "keep\nkeep2\n");
	CU_ASSERT_STRING_EQUAL(status_of(r, 0), "Compliant");
	CU_ASSERT_STRING_EQUAL(status_of(r, 1), "Compliant");
	CU_ASSERT_STRING_EQUAL(status_of(r, 2), "Compliant");
	CU_ASSERT(has_reason(r, 3, "GC::FILE_LINE::NOTSUPPORTED",
	    "only a regex"));
	CU_ASSERT(has_reason(r, 4, "GC::RESOURCE::INVALID", "does not match"));
	CU_ASSERT(has_reason(r, 5, "GC::RESOURCE::INVALID", "multiply to more "
	    "than 4096"));
	CU_ASSERT(has_reason(r, 6, "GC::RESOURCE::INVALID",
	    "a repeat of a repeat"));
	CU_ASSERT(has_reason(r, 7, "GC::RESOURCE::INVALID",
	    "repeats nested more than 4 deep"));
	CU_ASSERT(has_reason(r, 8, "GC::FILE_LINE::NOTSUPPORTED",
	    "only a regex"));
	json_decref(r);
	gc_doc_free(doc);
}

static void
test_file_create_and_remove(void)
{
	struct gc_doc	*doc;
	struct gc_ctx	 ctx;
	json_t		*r;
	struct stat	 st;
	char		 p[256];

	put("rm.conf", "bye\n", 0644);
	mkpath(p, sizeof(p), "emptydir");
	mkdir(p, 0755);
	doc = parse("{\"schemaVersion\": 1, \"name\": \"cr\", \"resources\": ["
	    "{\"id\": \"new\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/new.conf\", \"content\": \"hello\\n\", \"owner\": 65534, "
	    "\"group\": \"65534\", \"mode\": \"0640\"}},"
	    "{\"id\": \"rm\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/rm.conf\", \"ensure\": \"absent\"}},"
	    "{\"id\": \"rmdir\", \"type\": \"directory\", \"properties\": "
	    "{\"path\": \"@/emptydir\", \"ensure\": \"absent\"}},"
	    "{\"id\": \"sha\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/new.conf\", \"sha256\": "
	    "\"5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03\""
	    "}},"
	    "{\"id\": \"nodir\", \"type\": \"file\", \"properties\": {\"path\": "
	    "\"@/no/such/dir/x\", \"content\": \"\"}}]}", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	ctx = ctx_for(1, -1, -1);
	r = gc_evaluate(doc, &ctx);
	CU_ASSERT_STRING_EQUAL(get("new.conf"), "hello\n");
	CU_ASSERT_EQUAL(mode_of("new.conf"), 0640);
	CU_ASSERT_EQUAL(stat(doc_text("@/new.conf"), &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 65534);
	CU_ASSERT_EQUAL(st.st_gid, 65534);
	CU_ASSERT_PTR_NULL(get("rm.conf"));
	CU_ASSERT_EQUAL(mode_of("emptydir"), 0);
	CU_ASSERT_STRING_EQUAL(status_of(r, 0), "Compliant");
	CU_ASSERT_STRING_EQUAL(status_of(r, 1), "Compliant");
	CU_ASSERT_STRING_EQUAL(status_of(r, 2), "Compliant");
	CU_ASSERT_STRING_EQUAL(status_of(r, 3), "Compliant");
	CU_ASSERT(has_reason(r, 4, "GC::FILE::MISSING", NULL));
	json_decref(r);
	gc_doc_free(doc);
}

/* Every sample document parses whole; every bad one is refused or has a
 * bad resource (the schema test checks the same files against the
 * schema). */
static void
test_samples(void)
{
	struct gc_doc	*doc;
	glob_t		 g;
	char		*text, err[512];
	size_t		 i, len;
	FILE		*f;

	text = malloc(1 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL_FATAL(glob("samples/guestconfig/*.json", 0, NULL, &g),
	    0);
	CU_ASSERT(g.gl_pathc >= 3);
	for (i = 0; i < g.gl_pathc; i++) {
		f = fopen(g.gl_pathv[i], "r");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		len = fread(text, 1, (1 << 20) - 1, f);
		fclose(f);
		doc = gc_doc_parse(text, len, NULL, err, sizeof(err));
		if (doc == NULL || gc_doc_invalid(doc) != 0) {
			fprintf(stderr, "%s: %s\n", g.gl_pathv[i], doc ?
			    "a bad resource" : err);
			CU_FAIL("a sample document is refused");
		}
		gc_doc_free(doc);
	}
	globfree(&g);
	CU_ASSERT_EQUAL_FATAL(glob("samples/guestconfig/invalid/*.json", 0,
	    NULL, &g), 0);
	CU_ASSERT(g.gl_pathc >= 3);
	for (i = 0; i < g.gl_pathc; i++) {
		f = fopen(g.gl_pathv[i], "r");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		len = fread(text, 1, (1 << 20) - 1, f);
		fclose(f);
		doc = gc_doc_parse(text, len, NULL, err, sizeof(err));
		if (doc != NULL && gc_doc_invalid(doc) == 0) {
			fprintf(stderr, "%s: accepted\n", g.gl_pathv[i]);
			CU_FAIL("a bad sample document is accepted");
		}
		gc_doc_free(doc);
	}
	globfree(&g);
	free(text);
}

/* The single-rule probes of test_guestconfig_schema.py, which the schema
 * refuses: the parser fails each resource too. */
static void
test_schema_probes(void)
{
	static const char *const probes[] = {
		"{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/etc/../shadow\"}}",
		"{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/etc/x\", \"mode\": \"644x\"}}",
		"{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/etc/x\", \"content\": \"\", \"sha256\": "
		    "\"0000000000000000000000000000000000000000000000000000000000000000\"}}",
		"{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/etc/x\", \"ensure\": \"absent\", \"mode\": "
		    "\"0600\"}}",
		"{\"id\": \"a\", \"type\": \"command_output\", \"properties\": "
		    "{\"argv\": [\"id\"], \"regex\": \"x\"}}",
		"{\"id\": \"a\", \"audit\": {\"allOf\": [], \"anyOf\": []}}",
		"{\"id\": \"a\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/etc/x\"}, \"extra\": 1}",
		"{\"id\": \"a b\", \"type\": \"file\", \"properties\": "
		    "{\"path\": \"/etc/x\"}}",
		"{\"id\": \"a\", \"properties\": {\"path\": \"/etc/x\"}}",
		"{\"id\": \"a\", \"type\": \"sysctl\", \"properties\": "
		    "{\"name\": \"net/../../../etc/shadow\", \"value\": \"x\"}}",
		"{\"id\": \"a\", \"type\": \"user\", \"properties\": "
		    "{\"name\": \"-o\"}}",
	};
	struct gc_doc	*doc;
	char		 text[1024], err[256];
	size_t		 i;

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		snprintf(text, sizeof(text), "{\"schemaVersion\": 1, \"name\": "
		    "\"probe\", \"resources\": [%s]}", probes[i]);
		doc = gc_doc_parse(text, strlen(text), NULL, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL(doc);
		if (doc != NULL && gc_doc_invalid(doc) != 1) {
			fprintf(stderr, "probe %zu accepted\n", i);
			CU_FAIL("a probe the schema refuses is accepted");
		}
		gc_doc_free(doc);
	}
}

static void
test_cleanup(void)
{
	char	*argv[] = { "/bin/rm", "-rf", dir, NULL };
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	CU_ASSERT(access(dir, F_OK) == -1);
}

static const struct unit_test tests[] = {
	{ "setup", test_setup },
	{ "drift_then_apply", test_drift_then_apply },
	{ "audit_changes_nothing", test_audit_changes_nothing },
	{ "bad_documents", test_bad_documents },
	{ "unknown_type_fails_alone", test_unknown_type_fails_alone },
	{ "planted_symlink_not_followed", test_planted_symlink_not_followed },
	{ "untrusted_places", test_untrusted_places },
	{ "command_output", test_command_output },
	{ "parameters", test_parameters },
	{ "conditions", test_conditions },
	{ "accounts_and_packages", test_accounts_and_packages },
	{ "file_line_edits", test_file_line_edits },
	{ "file_create_and_remove", test_file_create_and_remove },
	{ "samples", test_samples },
	{ "schema_probes", test_schema_probes },
	{ "cleanup", test_cleanup },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("guestconfig_engine", tests);
}
