/* peercred_test.c -- the uid behind a loopback TCP connection, from the kernel's socket table, and who may call an admin API. */
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peercred.h"
#include "unit.h"

/* A listener on an ephemeral loopback port of family af. */
static int
listener(int af, struct sockaddr_storage *ss, socklen_t *len)
{
	int	fd = socket(af, SOCK_STREAM, 0);

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = af;
	if (af == AF_INET)
		((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)ss)->sin6_addr = in6addr_loopback;
	*len = af == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	if (fd == -1 || bind(fd, (struct sockaddr *)ss, *len) == -1 ||
	    listen(fd, 4) == -1 || getsockname(fd, (struct sockaddr *)ss,
	    len) == -1)
		return -1;
	return fd;
}

static void
one_family(int af)
{
	struct sockaddr_storage	ss;
	socklen_t		len;
	uid_t			uid = 12345;
	char			err[256];
	int			l, c, a;

	if ((l = listener(af, &ss, &len)) == -1) {
		printf("(no loopback for family %d) ", af);
		return;
	}
	c = socket(af, SOCK_STREAM, 0);
	CU_ASSERT_EQUAL_FATAL(connect(c, (struct sockaddr *)&ss, len), 0);
	a = accept(l, NULL, NULL);
	CU_ASSERT_FATAL(a != -1);
	CU_ASSERT_EQUAL(peercred_tcp_uid(a, &uid, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(uid, geteuid());
	close(a);
	close(c);
	close(l);
}

static void
test_own_uid(void)
{
	one_family(AF_INET);
	one_family(AF_INET6);
}

/* Another uid's client (as root: a child that becomes nobody) is seen as
 * that uid, not as ours. */
static void
test_other_uid(void)
{
	struct sockaddr_storage	ss;
	struct passwd		*pw;
	socklen_t		len;
	uid_t			uid = 0;
	char			err[256], b;
	int			l, a, p[2], status;
	pid_t			pid;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		printf("(skipped: needs root and user nobody) ");
		return;
	}
	l = listener(AF_INET, &ss, &len);
	CU_ASSERT_FATAL(l != -1 && pipe(p) == 0);
	if ((pid = fork()) == 0) {
		int	c;

		if (setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
			_exit(1);
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&ss, len) == -1)
			_exit(1);
		if (read(p[0], &b, 1) != 1)	/* until the parent has looked */
			_exit(1);
		_exit(0);
	}
	a = accept(l, NULL, NULL);
	CU_ASSERT_EQUAL(peercred_tcp_uid(a, &uid, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(uid, pw->pw_uid);
	CU_ASSERT_EQUAL(write(p[1], "x", 1), 1);
	waitpid(pid, &status, 0);
	close(a);
	close(l);
	close(p[0]);
	close(p[1]);
}

static void
test_not_tcp(void)
{
	uid_t	uid;
	char	err[256];
	int	sv[2];

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CU_ASSERT_EQUAL(peercred_tcp_uid(sv[0], &uid, err, sizeof(err)), -1);
	close(sv[0]);
	close(sv[1]);
}

static void
test_allowed(void)
{
	struct passwd	*pw;

	CU_ASSERT(peercred_uid_allowed(0, "arc"));
	CU_ASSERT(peercred_uid_allowed(geteuid(), "no-such-group-xyz"));
	if ((pw = getpwnam("nobody")) != NULL && geteuid() != pw->pw_uid) {
		CU_ASSERT(!peercred_uid_allowed(pw->pw_uid, "no-such-group-xyz"));
		CU_ASSERT(!peercred_uid_allowed(pw->pw_uid, "root"));
		if (getgrnam("nogroup") != NULL && pw->pw_gid ==
		    getgrnam("nogroup")->gr_gid)	/* its primary group */
			CU_ASSERT(peercred_uid_allowed(pw->pw_uid, "nogroup"));
	}
}

static const struct unit_test tests[] = {
	{ "our own loopback client, IPv4 and IPv6", test_own_uid },
	{ "another uid's client", test_other_uid },
	{ "not a TCP socket", test_not_tcp },
	{ "root, self, or a member of the group", test_allowed },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("peercred", tests);
}
