/* himds_machine_test.c -- the machine identity and its metadata: machine.json read and checked, Azure's documents, renewal installed whole or recovered, the new key never readable by the wrong group. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "identity.h"
#include "machine.h"
#include "metadata.h"
#include "unit.h"

#define MACHINE_JSON "{\"resource\": {\"resourceId\": \"/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.HybridCompute/machines/web-01\", " \
	"\"subscriptionId\": \"s1\", \"resourceGroupName\": \"rg1\", \"tenantId\": \"t1\", \"location\": \"westeurope\", " \
	"\"name\": \"web-01\", \"vmId\": \"0b3c2a5e-7c1e-4f7a-9d55-3f0c8c3a1b2d\", \"tags\": {\"env\": \"prod\", \"team\": \"ops\"}}, " \
	"\"cloudUrl\": \"https://management.cloudsim.test/\", \"caFile\": \"ca.crt\", \"connectedAt\": \"2026-11-29T06:00:00Z\", " \
	"\"heartbeatIntervalSeconds\": 60}"

static char dir[64];
static char own[80];	/* <dir>/himds: the key and certificate */

/* The identity's files are in <state>/himds, machine.json in <state>. */
static const char *
where(const char *name)
{
	return strncmp(name, "machine.key", 11) == 0 ||
	    strncmp(name, "machine.crt", 11) == 0 ? own : dir;
}

static void
put(const char *name, const char *text, mode_t mode)
{
	char	path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", where(name), name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *
file(const char *name)
{
	static char	path[256];

	snprintf(path, sizeof(path), "%s/%s", where(name), name);
	return path;
}

/* Does the certificate installed as name belong to key (its PEM read here). */
static int
file_cert_matches(const char *name, EVP_PKEY *key)
{
	static char	pem[65536];
	FILE		*f;
	size_t		 n;

	if ((f = fopen(file(name), "r")) == NULL)
		return 0;
	n = fread(pem, 1, sizeof(pem) - 1, f);
	fclose(f);
	pem[n] = '\0';
	return identity_cert_matches(pem, key);
}

/* A self-signed certificate for key, valid from now for days, as PEM. */
static char *
cert_pem(EVP_PKEY *key, const char *cn, long days)
{
	X509	*x = X509_new();
	BIO	*b = BIO_new(BIO_s_mem());
	char	*data, *s;
	long	 len;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(b, x);
	len = BIO_get_mem_data(b, &data);
	s = strndup(data, len);
	BIO_free(b);
	X509_free(x);
	return s;
}

/* machine.key and machine.crt for a new key; returns the key. */
static EVP_PKEY *
put_identity(long days)
{
	char		 err[256], *kp, *cp;
	EVP_PKEY	*key = identity_keygen(err, sizeof(err));

	kp = identity_key_pem(key, NULL);
	cp = cert_pem(key, "web-01", days);
	put("machine.key", kp, 0600);
	put("machine.crt", cp, 0644);
	put("ca.crt", cp, 0644);	/* machine.json's caFile: root's */
	free(kp);
	free(cp);
	return key;
}

static void
clear_dir(void)
{
	static const char *const names[] = { "machine.json", "machine.key",
	    "machine.crt", "machine.key.new", "machine.crt.new", "ca.crt",
	    NULL };
	int	i;

	for (i = 0; names[i] != NULL; i++)
		unlink(file(names[i]));
}

static void
test_not_connected(void)
{
	struct himds_machine	*m = (void *)1;
	char			 err[256];

	clear_dir();
	CU_ASSERT_EQUAL(himds_machine_load(dir, &m, err, sizeof(err)), 1);
	CU_ASSERT_PTR_NULL(m);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not connected"));
}

static void
test_load(void)
{
	struct himds_machine	*m;
	EVP_PKEY		*key;
	char			 err[256], ca[256];
	time_t			 now = time(NULL);

	clear_dir();
	key = put_identity(90);
	put("machine.json", MACHINE_JSON, 0644);
	CU_ASSERT_EQUAL_FATAL(himds_machine_load(dir, &m, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(m->name, "web-01");
	CU_ASSERT_PTR_NOT_NULL(strstr(m->resource_id, "/machines/web-01"));
	CU_ASSERT_STRING_EQUAL(m->cloud_url, "https://management.cloudsim.test");
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	CU_ASSERT_STRING_EQUAL(m->ca_file, ca);
	CU_ASSERT_STRING_EQUAL(m->cert_file, file("machine.crt"));
	CU_ASSERT_STRING_EQUAL(m->key_file, file("machine.key"));
	CU_ASSERT_PTR_NOT_NULL(m->cert_pem);
	CU_ASSERT(m->cert_pem != NULL && strncmp(m->cert_pem,
	    "-----BEGIN CERTIFICATE", 22) == 0 && m->cert_len ==
	    strlen(m->cert_pem));
	CU_ASSERT(m->key_pem != NULL && strstr(m->key_pem, "PRIVATE KEY") !=
	    NULL);
	CU_ASSERT_EQUAL(m->heartbeat_interval_seconds, 60);
	CU_ASSERT(m->not_before <= now + 1 && m->not_before >= now - 60);
	CU_ASSERT(m->not_after - m->not_before == 90 * 86400);
	himds_machine_free(m);
	EVP_PKEY_free(key);
	himds_machine_free(NULL);
}

/* machine.json alone: the same checks, no key or certificate needed. */
static void
test_read_json(void)
{
	struct himds_machine	*m;
	char			 err[256];

	clear_dir();
	put("ca.crt", "the CA\n", 0644);
	put("machine.json", MACHINE_JSON, 0644);
	CU_ASSERT_EQUAL(himds_machine_load(dir, &m, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(m);
	CU_ASSERT_EQUAL_FATAL(himds_machine_read_json(dir, &m, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(m->name, "web-01");
	CU_ASSERT_STRING_EQUAL(m->cloud_url, "https://management.cloudsim.test");
	CU_ASSERT_PTR_NULL(m->cert_pem);
	CU_ASSERT_PTR_NULL(m->key_pem);
	himds_machine_free(m);
	put("machine.json", "{\"resource\": {\"name\": \"web-01\"}}", 0644);
	CU_ASSERT_EQUAL(himds_machine_read_json(dir, &m, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "resource.name and resource.resourceId"));
	clear_dir();
	CU_ASSERT_EQUAL(himds_machine_read_json(dir, &m, err, sizeof(err)), 1);
}

static void
expect_broken(const char *json, const char *words)
{
	struct himds_machine	*m = (void *)1;
	char			 err[256];

	put("machine.json", json, 0644);
	CU_ASSERT_EQUAL(himds_machine_load(dir, &m, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(m);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, words));
	if (strstr(err, words) == NULL)
		printf("\n  got: %s\n  expected: %s\n", err, words);
}

static void
test_broken_identities(void)
{
	EVP_PKEY	*key, *other;
	char		 err[256], *pem;

	clear_dir();
	key = put_identity(90);
	expect_broken("{\"resource\": ", "machine.json:1:");
	expect_broken("{\"cloudUrl\": \"https://x\"}", "no \"resource\" object");
	expect_broken("{\"resource\": {\"name\": \"a b\", \"resourceId\": \"/x\"}, "
	    "\"cloudUrl\": \"https://x\", \"caFile\": \"/ca\"}", "resource.name");
	expect_broken("{\"resource\": {\"name\": \"a\", \"resourceId\": \"/x\"}, "
	    "\"cloudUrl\": \"http://x\", \"caFile\": \"/ca\"}", "https://");
	expect_broken("{\"resource\": {\"name\": \"a\", \"resourceId\": \"/x\"}, "
	    "\"cloudUrl\": \"https://x\"}", "caFile");
	/* The CA that root's calls trust: only root may change it. */
	if (geteuid() == 0) {
		CU_ASSERT_EQUAL(chown(file("ca.crt"), 65534, 65534), 0);
		expect_broken(MACHINE_JSON, "caFile");
		expect_broken(MACHINE_JSON, "ca.crt: owned by uid 65534, not "
		    "root: refused");
		CU_ASSERT_EQUAL(chown(file("ca.crt"), 0, 0), 0);
		CU_ASSERT_EQUAL(chmod(file("ca.crt"), 0666), 0);
		expect_broken(MACHINE_JSON, "writable by another user: refused");
		CU_ASSERT_EQUAL(chmod(file("ca.crt"), 0644), 0);
	}
	/* A certificate for another key: an identity half replaced. */
	other = identity_keygen(err, sizeof(err));
	pem = cert_pem(other, "web-01", 90);
	put("machine.crt", pem, 0644);
	expect_broken(MACHINE_JSON, "does not belong to");
	unlink(file("machine.crt"));
	expect_broken(MACHINE_JSON, "machine.crt");
	free(pem);
	EVP_PKEY_free(other);
	EVP_PKEY_free(key);
}

/* What himds (or whoever holds its user) can put in its folder is read as
 * its data, never followed: root's guestconfig loads the identity too. */
static void
test_planted(void)
{
	EVP_PKEY	*key;
	char		 elsewhere[256], other[256], *kp, *cp;
	FILE		*f;

	clear_dir();
	key = put_identity(90);
	put("machine.json", MACHINE_JSON, 0644);
	/* A good pair elsewhere: a symlink to it would load if followed. */
	kp = identity_key_pem(key, NULL);
	cp = cert_pem(key, "web-01", 90);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere.key", dir);
	f = fopen(elsewhere, "w");
	fputs(kp, f);
	fclose(f);
	unlink(file("machine.key"));
	CU_ASSERT_EQUAL(symlink(elsewhere, file("machine.key")), 0);
	expect_broken(MACHINE_JSON, "/himds/machine.key: a symbolic link, not "
	    "followed");
	unlink(file("machine.key"));
	CU_ASSERT_EQUAL(mkfifo(file("machine.key"), 0600), 0);
	expect_broken(MACHINE_JSON, "/himds/machine.key: not a regular file "
	    "with one link, refused");
	unlink(file("machine.key"));
	CU_ASSERT_EQUAL(link(elsewhere, file("machine.key")), 0);
	expect_broken(MACHINE_JSON, "/himds/machine.key: not a regular file "
	    "with one link, refused");
	unlink(file("machine.key"));
	put("machine.key", kp, 0600);
	/* Text that is not PEM is not a path to read. */
	snprintf(other, sizeof(other), "%s/elsewhere.crt", dir);
	f = fopen(other, "w");
	fputs(cp, f);
	fclose(f);
	put("machine.crt", other, 0644);
	expect_broken(MACHINE_JSON, "machine.crt: not a PEM certificate");
	put("machine.crt", cp, 0644);
	/* The folder itself a symlink (root's state dir: only in an old
	 * layout could himds put one there). */
	snprintf(other, sizeof(other), "%s/himds.real", dir);
	CU_ASSERT_EQUAL(rename(own, other), 0);
	CU_ASSERT_EQUAL(symlink(other, own), 0);
	expect_broken(MACHINE_JSON, "/himds: a symbolic link, not followed");
	unlink(own);
	CU_ASSERT_EQUAL(rename(other, own), 0);
	unlink(elsewhere);
	snprintf(other, sizeof(other), "%s/elsewhere.crt", dir);
	unlink(other);
	free(kp);
	free(cp);
	EVP_PKEY_free(key);
}

static void
test_names(void)
{
	CU_ASSERT(himds_machine_name_ok("web-01"));
	CU_ASSERT(himds_machine_name_ok("a"));
	CU_ASSERT(himds_machine_name_ok("A.b_c-d"));
	CU_ASSERT(!himds_machine_name_ok(""));
	CU_ASSERT(!himds_machine_name_ok("-a"));
	CU_ASSERT(!himds_machine_name_ok("a/b"));
	CU_ASSERT(!himds_machine_name_ok("a b"));
	CU_ASSERT(!himds_machine_name_ok(NULL));
	CU_ASSERT(himds_machine_name_ok("a23456789012345678901234567890123456789"
	    "012345678901234567890123"));		/* 63 */
	CU_ASSERT(!himds_machine_name_ok("a23456789012345678901234567890123456789"
	    "0123456789012345678901234"));	/* 64 */
}

static void
test_instance_document(void)
{
	struct himds_machine	*m;
	EVP_PKEY		*key;
	json_t			*doc, *c;
	char			 err[256], *text;

	clear_dir();
	key = put_identity(90);
	put("machine.json", MACHINE_JSON, 0644);
	CU_ASSERT_EQUAL_FATAL(himds_machine_load(dir, &m, err, sizeof(err)), 0);
	text = himds_metadata_instance(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	doc = json_loads(text, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	c = json_object_get(doc, "compute");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "name")), "web-01");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "resourceId")),
	    m->resource_id);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "subscriptionId")), "s1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c,
	    "resourceGroupName")), "rg1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "location")),
	    "westeurope");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "osType")), "Linux");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "vmId")),
	    "0b3c2a5e-7c1e-4f7a-9d55-3f0c8c3a1b2d");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "tags")),
	    "env:prod;team:ops");
	CU_ASSERT_EQUAL(json_array_size(json_object_get(c, "tagsList")), 2);
	CU_ASSERT(json_is_object(json_object_get(doc, "network")));
	CU_ASSERT_EQUAL(json_object_size(json_object_get(doc, "network")), 0);
	json_decref(doc);
	free(text);
	text = himds_metadata_endpoints(m);
	doc = json_loads(text, 0, NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc,
	    "resourceManager")), "https://management.cloudsim.test");
	json_decref(doc);
	free(text);
	himds_machine_free(m);
	EVP_PKEY_free(key);
}

static void
test_tags(void)
{
	json_t	*tags = json_loads("{\"a\": \"1\", \"b\": 2}", 0, NULL);
	char	*s;

	s = himds_metadata_tags(tags);
	CU_ASSERT_STRING_EQUAL(s, "a:1;b:2");
	free(s);
	json_decref(tags);
	s = himds_metadata_tags(NULL);
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
	tags = json_object();
	s = himds_metadata_tags(tags);
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
	json_decref(tags);
}

static void
test_install(void)
{
	EVP_PKEY	*old, *key;
	struct stat	 st;
	char		 err[256], *kp, *cp;
	size_t		 klen;

	clear_dir();
	old = put_identity(90);
	chmod(file("machine.key"), 0640);
	key = identity_keygen(err, sizeof(err));
	kp = identity_key_pem(key, &klen);
	cp = cert_pem(key, "web-01", 90);
	CU_ASSERT_EQUAL_FATAL(himds_machine_install(own, kp, klen, cp, strlen(cp),
	    err, sizeof(err)), 0);
	CU_ASSERT(file_cert_matches("machine.crt", key));
	CU_ASSERT_EQUAL(stat(file("machine.key"), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);
	CU_ASSERT_EQUAL(access(file("machine.key.new"), F_OK), -1);
	CU_ASSERT_EQUAL(access(file("machine.crt.new"), F_OK), -1);
	CU_ASSERT_EQUAL(himds_machine_recover(own, err, sizeof(err)), 0);
	free(kp);
	free(cp);
	EVP_PKEY_free(key);
	EVP_PKEY_free(old);
}

static void
test_recover(void)
{
	EVP_PKEY	*key, *next;
	char		 err[256], *kp, *cp;

	/* Crash after the key's rename, before the certificate's. */
	clear_dir();
	key = put_identity(90);
	next = identity_keygen(err, sizeof(err));
	kp = identity_key_pem(next, NULL);
	cp = cert_pem(next, "web-01", 90);
	put("machine.key", kp, 0640);
	put("machine.crt.new", cp, 0644);
	CU_ASSERT_EQUAL(himds_machine_recover(own, err, sizeof(err)), 1);
	CU_ASSERT(file_cert_matches("machine.crt", next));
	CU_ASSERT_EQUAL(access(file("machine.crt.new"), F_OK), -1);

	/* Crash after both were written, before any rename. */
	clear_dir();
	EVP_PKEY_free(key);
	key = put_identity(90);
	put("machine.key.new", kp, 0640);
	put("machine.crt.new", cp, 0644);
	CU_ASSERT_EQUAL(himds_machine_recover(own, err, sizeof(err)), 1);
	CU_ASSERT(file_cert_matches("machine.crt", next));
	CU_ASSERT_EQUAL(access(file("machine.key.new"), F_OK), -1);

	/* Crash while writing: the old identity stays, the leftover goes. */
	clear_dir();
	EVP_PKEY_free(key);
	key = put_identity(90);
	put("machine.key.new", kp, 0640);
	CU_ASSERT_EQUAL(himds_machine_recover(own, err, sizeof(err)), 0);
	CU_ASSERT(file_cert_matches("machine.crt", key));
	CU_ASSERT_EQUAL(access(file("machine.key.new"), F_OK), -1);
	free(kp);
	free(cp);
	EVP_PKEY_free(key);
	EVP_PKEY_free(next);
}

/* Watches own for a machine.key* that someone outside key_gid could read. */
struct watch {
	gid_t		key_gid;
	volatile int	stop;
	int		seen_wrong;	/* readable by another group, ever */
	char		what[320];
};

static void *
watch_keys(void *arg)
{
	struct watch	*w = arg;
	struct dirent	*e;
	struct stat	 st;
	DIR		*d;

	while (!w->stop) {
		if ((d = opendir(own)) == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, "machine.key", 11) != 0 ||
			    fstatat(dirfd(d), e->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == -1)
				continue;
			if ((st.st_mode & 0004) || ((st.st_mode & 0040) &&
			    st.st_gid != w->key_gid)) {
				w->seen_wrong = 1;
				snprintf(w->what, sizeof(w->what), "%s %o gid %u",
				    e->d_name, st.st_mode & 0777,
				    (unsigned)st.st_gid);
			}
		}
		closedir(d);
	}
	return NULL;
}

/* The renewed key is readable by the old key's group (arcproxy) and nobody
 * else at every moment: group and mode are set on the fd while it is 0600
 * and empty, never after it was written 0640 with himds's own group. */
static void
test_install_key_never_readable(void)
{
	struct watch	 w;
	pthread_t	 t;
	EVP_PKEY	*old, *key;
	struct stat	 st;
	char		 err[256], *kp, *cp;
	size_t		 klen;
	int		 i;

	if (geteuid() != 0) {
		printf("(skipped: needs root to give the key another group) ");
		return;
	}
	clear_dir();
	old = put_identity(90);
	memset(&w, 0, sizeof(w));
	w.key_gid = 4242;	/* arc, not this process's group */
	CU_ASSERT_EQUAL_FATAL(chown(file("machine.key"), 0, w.key_gid), 0);
	chmod(file("machine.key"), 0640);
	key = identity_keygen(err, sizeof(err));
	kp = identity_key_pem(key, &klen);
	cp = cert_pem(key, "web-01", 90);
	pthread_create(&t, NULL, watch_keys, &w);
	for (i = 0; i < 100 && !w.seen_wrong; i++)
		CU_ASSERT_EQUAL_FATAL(himds_machine_install(own, kp, klen, cp,
		    strlen(cp), err, sizeof(err)), 0);
	w.stop = 1;
	pthread_join(t, NULL);
	if (w.seen_wrong)
		printf("(seen: %s) ", w.what);
	CU_ASSERT_FALSE(w.seen_wrong);
	CU_ASSERT_EQUAL(stat(file("machine.key"), &st), 0);
	CU_ASSERT_EQUAL(st.st_gid, w.key_gid);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0640);
	free(kp);
	free(cp);
	EVP_PKEY_free(key);
	EVP_PKEY_free(old);
}

/* A symlink that himds's own user planted as machine.key.new is replaced,
 * never written through. */
static void
test_install_ignores_planted_symlink(void)
{
	EVP_PKEY	*old, *key;
	char		 err[256], victim[128], *kp, *cp, buf[16];
	size_t		 klen;
	int		 fd;
	ssize_t		 n;

	clear_dir();
	old = put_identity(90);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	put("victim", "untouched", 0600);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, file("machine.key.new")), 0);
	key = identity_keygen(err, sizeof(err));
	kp = identity_key_pem(key, &klen);
	cp = cert_pem(key, "web-01", 90);
	CU_ASSERT_EQUAL(himds_machine_install(own, kp, klen, cp, strlen(cp), err,
	    sizeof(err)), 0);
	fd = open(victim, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	CU_ASSERT_STRING_EQUAL(buf, "untouched");
	CU_ASSERT(file_cert_matches("machine.crt", key));
	unlink(victim);
	free(kp);
	free(cp);
	EVP_PKEY_free(key);
	EVP_PKEY_free(old);
}

static const struct unit_test tests[] = {
	{ "no machine.json: not connected", test_not_connected },
	{ "load an identity", test_load },
	{ "machine.json alone", test_read_json },
	{ "broken identities are errors", test_broken_identities },
	{ "planted key and certificate files are refused", test_planted },
	{ "machine names", test_names },
	{ "the instance and endpoints documents", test_instance_document },
	{ "tags as Azure writes them", test_tags },
	{ "install a renewed identity", test_install },
	{ "recover an interrupted install", test_recover },
	{ "the new key is never readable by another group",
	    test_install_key_never_readable },
	{ "install writes through no planted symlink",
	    test_install_ignores_planted_symlink },
	{ NULL, NULL }
};

int
main(void)
{
	int	rc;

	snprintf(dir, sizeof(dir), "/tmp/himds_machine_test.%d", (int)getpid());
	mkdir(dir, 0700);
	snprintf(own, sizeof(own), "%s/himds", dir);
	mkdir(own, 0700);
	rc = unit_main("himds_machine", tests);
	clear_dir();
	rmdir(own);
	rmdir(dir);
	return rc;
}
