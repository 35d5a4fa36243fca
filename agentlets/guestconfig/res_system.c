/* res_system.c -- the sysctl, user, group and package resources: read from /proc/sys, passwd, group and dpkg's status; set by writing /proc/sys or exec of the shadow tools. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "resources.h"

#define SHADOW_TOOL_TIMEOUT_MS	30000
#define TOOL_DIR		"/usr/sbin/"

struct sysctl_props {
	char	*name;
	char	*relpath;	/* "net/ipv4/ip_forward" */
	char	*value;		/* normalized */
};

struct account_props {
	char		*name;
	int		 present;
	long long	 id;		/* uid or gid; -1 any */
	char		*shell;		/* user only; NULL any */
};

struct package_props {
	char	*name;
	int	 installed;
	char	*version;
};

/* Runs of blanks as one space, none at the ends, in place. */
static void
normalize(char *s)
{
	char	*w = s, *r = s;
	int	 space = 0;

	for (; *r != '\0'; r++) {
		if (isspace((unsigned char)*r)) {
			space = w != s;
			continue;
		}
		if (space)
			*w++ = ' ';
		space = 0;
		*w++ = *r;
	}
	*w = '\0';
}

/* Reads path whole (through gc_file_open_read); NULL with a reason. */
static char *
read_all(const char *path, const char *what, int *missing, struct gc_run *run)
{
	struct stat	 st;
	char		 err[PATH_MAX + 128], *buf;
	size_t		 len;
	int		 fd;

	*missing = 0;
	if ((fd = gc_file_open_read(path, &st, err, sizeof(err))) == -1) {
		*missing = errno == ENOENT;
		gc_reason(run, *missing ? "MISSING" : "READ", "%s: %s", what,
		    err);
		return NULL;
	}
	buf = gc_fd_read(fd, GC_MAX_FILE, &len, err, sizeof(err));
	close(fd);
	if (buf == NULL)
		gc_reason(run, "READ", "%s: %s: %s", what, path, err);
	return buf;
}

/* ---- sysctl ---- */

static int
sysctl_parse(void *p, const json_t *props, char *err, size_t errlen)
{
	static const char *const	 keys[] = { "name", "value", NULL };
	struct sysctl_props		*s = p;
	json_t				*v;
	size_t				 i;
	int				 slash;

	if (gc_props_only(props, keys, err, errlen) == -1 ||
	    gc_prop_str(props, "name", 1, &s->name, err, errlen) == -1)
		return -1;
	if ((v = json_object_get(props, "value")) != NULL &&
	    json_is_integer(v)) {
		if (asprintf(&s->value, "%lld",
		    (long long)json_integer_value(v)) == -1) {
			s->value = NULL;
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	} else if (gc_prop_str(props, "value", 1, &s->value, err, errlen) ==
	    -1)
		return -1;
	if (strchr(s->value, '\n') != NULL || strlen(s->value) > 4096) {
		snprintf(err, errlen, "property value: one line of at most "
		    "4096");
		return -1;
	}
	normalize(s->value);
	if (strlen(s->name) > 255 || s->name[0] == '.' || s->name[0] == '/')
		goto bad;
	/* "net.ipv4.ip_forward", or with slashes when a part holds a dot */
	slash = strchr(s->name, '/') != NULL;
	for (i = 0; s->name[i] != '\0'; i++)
		if (!isalnum((unsigned char)s->name[i]) && strchr("_-.",
		    s->name[i]) == NULL && s->name[i] != '/')
			goto bad;
	if (strstr(s->name, "..") != NULL || strstr(s->name, "//") != NULL ||
	    strstr(s->name, "/.") != NULL || strstr(s->name, "./") != NULL ||
	    s->name[strlen(s->name) - 1] == '.' ||
	    s->name[strlen(s->name) - 1] == '/')
		goto bad;
	if ((s->relpath = strdup(s->name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!slash)
		for (i = 0; s->relpath[i] != '\0'; i++)
			if (s->relpath[i] == '.')
				s->relpath[i] = '/';
	return 0;
bad:
	snprintf(err, errlen, "property name \"%.64s\": expected a sysctl "
	    "name like net.ipv4.ip_forward", s->name);
	return -1;
}

static void
sysctl_free(void *p)
{
	struct sysctl_props	*s = p;

	free(s->name);
	free(s->relpath);
	free(s->value);
}

static int
sysctl_path(const struct sysctl_props *s, const struct gc_ctx *ctx,
    char *buf, size_t len)
{
	const char	*root = ctx->sysctl_root ? ctx->sysctl_root :
	    "/proc/sys";

	return (size_t)snprintf(buf, len, "%s/%s", root, s->relpath) >= len ?
	    -1 : 0;
}

/* The current value, normalized; NULL with a reason. */
static char *
sysctl_read(const struct sysctl_props *s, struct gc_run *run)
{
	char	 path[PATH_MAX], *buf;
	int	 missing;

	if (sysctl_path(s, run->ctx, path, sizeof(path)) == -1) {
		gc_reason(run, "NAME", "%s: name too long", s->name);
		return NULL;
	}
	if ((buf = read_all(path, s->name, &missing, run)) != NULL)
		normalize(buf);
	return buf;
}

static int
sysctl_test(const void *p, struct gc_run *run)
{
	const struct sysctl_props	*s = p;
	char				*cur;
	int				 ok;

	if ((cur = sysctl_read(s, run)) == NULL)
		return 0;
	ok = strcmp(cur, s->value) == 0;
	if (ok)
		gc_reason(run, "COMPLIANT", "%s is \"%s\"", s->name, cur);
	else
		gc_reason(run, "VALUE", "%s is \"%.200s\", expected \"%s\"",
		    s->name, cur, s->value);
	free(cur);
	return ok;
}

static int
sysctl_set(const void *p, struct gc_run *run)
{
	const struct sysctl_props	*s = p;
	char				 path[PATH_MAX], err[PATH_MAX + 128];
	char				 name[NAME_MAX + 1], *cur, *line = NULL;
	struct stat			 st;
	ssize_t				 n;
	int				 dirfd = -1, fd = -1, rc = -1;

	if ((cur = sysctl_read(s, run)) == NULL)
		return -1;
	if (strcmp(cur, s->value) == 0) {
		/* the resource failed on its audit condition alone */
		free(cur);
		return 0;
	}
	if (sysctl_path(s, run->ctx, path, sizeof(path)) == -1 ||
	    gc_path_open(path, 1, &dirfd, name, sizeof(name), &st, err,
	    sizeof(err)) == -1) {
		gc_reason(run, "WRITE", "%s: %s", s->name, err);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (fd = openat(dirfd, name, O_WRONLY |
	    O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) == -1) {
		gc_reason(run, "WRITE", "%s: %s", s->name, S_ISREG(st.st_mode) ?
		    strerror(errno) : "not a sysctl file");
		goto out;
	}
	if (asprintf(&line, "%s\n", s->value) == -1) {
		line = NULL;
		goto out;
	}
	/* /proc/sys takes the value in one write */
	if ((n = write(fd, line, strlen(line))) != (ssize_t)strlen(line)) {
		gc_reason(run, "WRITE", "%s: writing \"%s\": %s", s->name,
		    s->value, n == -1 ? strerror(errno) : "short write");
		goto out;
	}
	gc_change(run, "sysctl %s: \"%s\" -> \"%s\"", s->name, cur, s->value);
	rc = 0;
out:
	free(line);
	free(cur);
	if (fd != -1)
		close(fd);
	if (dirfd != -1)
		close(dirfd);
	return rc;
}

const struct gc_type gc_type_sysctl = {
	"sysctl", "SYSCTL", sizeof(struct sysctl_props), sysctl_parse,
	sysctl_free, sysctl_test, sysctl_set
};

/* ---- user and group ---- */

static int
account_parse(struct account_props *a, const json_t *props, int isuser,
    char *err, size_t errlen)
{
	static const char *const	 ukeys[] = { "name", "ensure", "uid",
	    "shell", NULL };
	static const char *const	 gkeys[] = { "name", "ensure", "gid",
	    NULL };
	const char			*idkey = isuser ? "uid" : "gid";
	size_t				 i;

	if (gc_props_only(props, isuser ? ukeys : gkeys, err, errlen) == -1 ||
	    gc_prop_str(props, "name", 1, &a->name, err, errlen) == -1 ||
	    gc_prop_ensure(props, "present", "absent", &a->present, err,
	    errlen) == -1 || gc_prop_int(props, idkey, 0, 4294967294LL, -1,
	    &a->id, err, errlen) == -1)
		return -1;
	if (!gc_valid_account_name(a->name)) {
		snprintf(err, errlen, "property name: expected 1 to 32 of "
		    "[A-Za-z0-9_.-], not starting with -");
		return -1;
	}
	if (isuser && gc_prop_str(props, "shell", 0, &a->shell, err,
	    errlen) == -1)
		return -1;
	if (a->shell != NULL) {
		if (a->shell[0] != '/' || strlen(a->shell) > 255)
			goto badshell;
		for (i = 0; a->shell[i] != '\0'; i++)
			if (a->shell[i] == ':' || !isprint((unsigned char)
			    a->shell[i]))
				goto badshell;
	}
	if (!a->present && (a->id != -1 || a->shell != NULL)) {
		snprintf(err, errlen, "ensure absent takes no %s or shell",
		    idkey);
		return -1;
	}
	return 0;
badshell:
	snprintf(err, errlen, "property shell: expected an absolute path");
	return -1;
}

static int
user_parse(void *p, const json_t *props, char *err, size_t errlen)
{
	return account_parse(p, props, 1, err, errlen);
}

static int
group_parse(void *p, const json_t *props, char *err, size_t errlen)
{
	return account_parse(p, props, 0, err, errlen);
}

static void
account_free(void *p)
{
	struct account_props	*a = p;

	free(a->name);
	free(a->shell);
}

static const char *
accounts_root(const struct gc_ctx *ctx)
{
	return ctx->accounts_root ? ctx->accounts_root : "/";
}

/*
 * Finds name in <root>/etc/passwd or group: 1 found (its id and, for a
 * user, shell in the buffers), 0 not, -1 with a reason.
 */
static int
account_find(const char *name, int isuser, struct gc_run *run, long long *id,
    char *shell, size_t shelllen)
{
	char		 path[PATH_MAX], *buf, *line, *next, *f[7];
	const char	*root = accounts_root(run->ctx);
	size_t		 nf;
	int		 missing, found = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s%setc/%s", root,
	    root[strlen(root) - 1] == '/' ? "" : "/", isuser ? "passwd" :
	    "group") >= sizeof(path)) {
		gc_reason(run, "READ", "accounts root too long");
		return -1;
	}
	if ((buf = read_all(path, path, &missing, run)) == NULL)
		return -1;
	for (line = buf; line != NULL && !found; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		for (nf = 0; nf < 7; nf++) {
			f[nf] = line;
			if ((line = strchr(line, ':')) == NULL) {
				nf++;
				break;
			}
			*line++ = '\0';
		}
		if (nf < (isuser ? 7u : 3u) || strcmp(f[0], name) != 0)
			continue;
		found = 1;
		*id = strtoll(f[2], NULL, 10);
		if (isuser)
			snprintf(shell, shelllen, "%s", f[6]);
	}
	free(buf);
	return found;
}

static int
account_test(const struct account_props *a, int isuser, struct gc_run *run)
{
	const char	*what = isuser ? "user" : "group";
	char		 shell[256] = "";
	long long	 id = -1;
	int		 found, ok = 1;

	if ((found = account_find(a->name, isuser, run, &id, shell,
	    sizeof(shell))) == -1)
		return 0;
	if (!a->present) {
		if (!found) {
			gc_reason(run, "COMPLIANT", "%s %s does not exist",
			    what, a->name);
			return 1;
		}
		gc_reason(run, "PRESENT", "%s %s exists (%s %lld), expected "
		    "absent", what, a->name, isuser ? "uid" : "gid", id);
		return 0;
	}
	if (!found) {
		gc_reason(run, "MISSING", "%s %s does not exist, expected "
		    "present", what, a->name);
		return 0;
	}
	if (a->id != -1 && id != a->id) {
		gc_reason(run, isuser ? "UID" : "GID", "%s %s: %s is %lld, "
		    "expected %lld", what, a->name, isuser ? "uid" : "gid", id,
		    a->id);
		ok = 0;
	}
	if (a->shell != NULL && strcmp(shell, a->shell) != 0) {
		gc_reason(run, "SHELL", "user %s: shell is %s, expected %s",
		    a->name, shell, a->shell);
		ok = 0;
	}
	if (ok)
		gc_reason(run, "COMPLIANT", "%s %s exists (%s %lld)", what,
		    a->name, isuser ? "uid" : "gid", id);
	return ok;
}

static int
user_test(const void *p, struct gc_run *run)
{
	return account_test(p, 1, run);
}

static int
group_test(const void *p, struct gc_run *run)
{
	return account_test(p, 0, run);
}

/* Runs one of the shadow tools (argv[0] a name in TOOL_DIR), with -R
 * <root> when the accounts root is not "/". */
static int
run_tool(struct gc_run *run, const char *tool, const char *const *args)
{
	char		*argv[16], path[64], *out = NULL, err[256];
	const char	*root = accounts_root(run->ctx);
	size_t		 n = 0, i;
	int		 status, timedout, rc = -1;

	snprintf(path, sizeof(path), TOOL_DIR "%s", tool);
	argv[n++] = path;
	if (strcmp(root, "/") != 0) {
		argv[n++] = "-R";
		argv[n++] = (char *)root;
	}
	for (i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	if (gc_exec(argv, SHADOW_TOOL_TIMEOUT_MS, 1, &out, 512, &status,
	    &timedout, err, sizeof(err)) == -1) {
		gc_reason(run, "EXEC", "%s", err);
		return -1;
	}
	normalize(out);
	if (timedout)
		gc_reason(run, "EXEC", "%s: killed after %d ms", path,
		    SHADOW_TOOL_TIMEOUT_MS);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		gc_reason(run, "EXEC", "%s exited %d: %s", path,
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
		    WTERMSIG(status), out);
	else
		rc = 0;
	free(out);
	return rc;
}

static int
account_set(const struct account_props *a, int isuser, struct gc_run *run)
{
	const char	*args[8];
	char		 shell[256], idtext[32];
	long long	 id = -1;
	size_t		 n = 0;
	int		 found;

	if ((found = account_find(a->name, isuser, run, &id, shell,
	    sizeof(shell))) == -1)
		return -1;
	snprintf(idtext, sizeof(idtext), "%lld", a->id);
	if (!a->present) {
		if (!found)
			return 0;
		args[0] = a->name;
		args[1] = NULL;
		if (run_tool(run, isuser ? "userdel" : "groupdel", args) == -1)
			return -1;
		gc_change(run, "%s %s removed", isuser ? "user" : "group",
		    a->name);
		return 0;
	}
	if (a->id != -1 && (!found || id != a->id)) {
		args[n++] = isuser ? "-u" : "-g";
		args[n++] = idtext;
	}
	if (a->shell != NULL && (!found || strcmp(shell, a->shell) != 0)) {
		args[n++] = "-s";
		args[n++] = a->shell;
	}
	if (!found && isuser)
		args[n++] = "-M";	/* no home directory is made */
	if (found && n == 0)
		return 0;
	args[n++] = a->name;
	args[n] = NULL;
	if (run_tool(run, found ? (isuser ? "usermod" : "groupmod") :
	    (isuser ? "useradd" : "groupadd"), args) == -1)
		return -1;
	if (found)
		gc_change(run, "%s %s changed:%s%s%s%s", isuser ? "user" :
		    "group", a->name, a->id != -1 && id != a->id ? " id -> " :
		    "", a->id != -1 && id != a->id ? idtext : "",
		    a->shell != NULL && strcmp(shell, a->shell) != 0 ?
		    " shell -> " : "", a->shell != NULL && strcmp(shell,
		    a->shell) != 0 ? a->shell : "");
	else
		gc_change(run, "%s %s added", isuser ? "user" : "group",
		    a->name);
	return 0;
}

static int
user_set(const void *p, struct gc_run *run)
{
	return account_set(p, 1, run);
}

static int
group_set(const void *p, struct gc_run *run)
{
	return account_set(p, 0, run);
}

const struct gc_type gc_type_user = {
	"user", "USER", sizeof(struct account_props), user_parse,
	account_free, user_test, user_set
};

const struct gc_type gc_type_group = {
	"group", "GROUP", sizeof(struct account_props), group_parse,
	account_free, group_test, group_set
};

/* ---- package ---- */

static int
package_parse(void *p, const json_t *props, char *err, size_t errlen)
{
	static const char *const	 keys[] = { "name", "ensure",
	    "version", NULL };
	struct package_props		*k = p;
	size_t				 i;

	if (gc_props_only(props, keys, err, errlen) == -1 ||
	    gc_prop_str(props, "name", 1, &k->name, err, errlen) == -1 ||
	    gc_prop_ensure(props, "installed", "absent", &k->installed, err,
	    errlen) == -1 ||
	    gc_prop_str(props, "version", 0, &k->version, err, errlen) == -1)
		return -1;
	for (i = 0; k->name[i] != '\0'; i++)
		if (!(islower((unsigned char)k->name[i]) ||
		    isdigit((unsigned char)k->name[i]) || strchr("+-.:",
		    k->name[i]) != NULL) || i > 128) {
			snprintf(err, errlen, "property name: not a Debian "
			    "package name");
			return -1;
		}
	if (!k->installed && k->version != NULL) {
		snprintf(err, errlen, "ensure absent takes no version");
		return -1;
	}
	return 0;
}

static void
package_free(void *p)
{
	struct package_props	*k = p;

	free(k->name);
	free(k->version);
}

/* The value of field (with its ": ") in the stanza [s, e), cut at the
 * line's end, in buf; 0 when absent. */
static int
stanza_field(const char *s, const char *e, const char *field, char *buf,
    size_t len)
{
	size_t		 flen = strlen(field);
	const char	*l, *nl;

	for (l = s; l < e; l = nl + 1) {
		if ((nl = memchr(l, '\n', e - l)) == NULL)
			nl = e;
		if ((size_t)(nl - l) > flen && strncmp(l, field, flen) == 0 &&
		    l[flen] == ':') {
			l += flen + 1;
			while (l < nl && (*l == ' ' || *l == '\t'))
				l++;
			snprintf(buf, len, "%.*s", (int)(nl - l), l);
			return 1;
		}
	}
	return 0;
}

static int
package_test(const void *p, struct gc_run *run)
{
	const struct package_props	*k = p;
	const char			*path = run->ctx->dpkg_status ?
	    run->ctx->dpkg_status : "/var/lib/dpkg/status";
	char				*buf, *s, *e, name[256], status[256];
	char				 version[256] = "";
	int				 missing, installed = 0;

	if ((buf = read_all(path, "dpkg status", &missing, run)) == NULL)
		return 0;
	for (s = buf; *s != '\0' && !installed; s = e) {
		if ((e = strstr(s, "\n\n")) == NULL)
			e = s + strlen(s);
		else
			e += 2;
		if (!stanza_field(s, e, "Package", name, sizeof(name)) ||
		    strcmp(name, k->name) != 0)
			continue;
		/* "install ok installed", "hold ok installed": installed */
		if (stanza_field(s, e, "Status", status, sizeof(status)) &&
		    strlen(status) > 10 && strcmp(status + strlen(status) - 10,
		    " installed") == 0) {
			installed = 1;
			stanza_field(s, e, "Version", version, sizeof(version));
		}
	}
	free(buf);
	if (!k->installed) {
		if (!installed) {
			gc_reason(run, "COMPLIANT", "package %s is not "
			    "installed", k->name);
			return 1;
		}
		gc_reason(run, "INSTALLED", "package %s %s is installed, "
		    "expected absent", k->name, version);
		return 0;
	}
	if (!installed) {
		gc_reason(run, "MISSING", "package %s is not installed, "
		    "expected installed", k->name);
		return 0;
	}
	if (k->version != NULL && strcmp(version, k->version) != 0) {
		gc_reason(run, "VERSION", "package %s: version %s is "
		    "installed, expected %s", k->name, version, k->version);
		return 0;
	}
	gc_reason(run, "COMPLIANT", "package %s %s is installed", k->name,
	    version);
	return 1;
}

const struct gc_type gc_type_package = {
	"package", "PACKAGE", sizeof(struct package_props), package_parse,
	package_free, package_test, NULL
};
