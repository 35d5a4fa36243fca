/* machine.c -- the machine's identity in the state dir (machine.json, .crt, .key), read, checked, and replaced whole on renewal; himds owns it, guestconfig and arcnotify read it. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "atomicfile.h"
#include "identity.h"
#include "machine.h"
#include "safedir.h"

#define MACHINE_JSON_MAX	(1 << 20)
#define MACHINE_FILE_MAX	(1 << 20)	/* machine.crt, machine.key */

int
himds_machine_name_ok(const char *name)
{
	size_t	i;

	if (name == NULL || !isalnum((unsigned char)name[0]))
		return 0;
	for (i = 1; name[i] != '\0'; i++)
		if (i > 62 || !(isalnum((unsigned char)name[i]) ||
		    strchr("-_.", name[i]) != NULL))
			return 0;
	return 1;
}

static const char *
machine_string(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Do the key file and the certificate belong together? */
static int
machine_pair_matches(const char *key_file, const char *cert_file)
{
	EVP_PKEY	*key;
	char		 err[256];
	int		 ok;

	if ((key = identity_key_load(key_file, err, sizeof(err))) == NULL)
		return 0;
	ok = identity_cert_file_matches(cert_file, key);
	EVP_PKEY_free(key);
	return ok;
}

static int
machine_parse(struct himds_machine *m, const char *path, const char *state_dir,
    char *err, size_t errlen)
{
	json_t		*res, *iv;
	const char	*url, *ca;
	char		 why[PATH_MAX + 128];
	size_t		 len;

	res = json_object_get(m->doc, "resource");
	if (!json_is_object(res)) {
		snprintf(err, errlen, "%s: no \"resource\" object", path);
		return -1;
	}
	m->name = machine_string(res, "name");
	m->resource_id = machine_string(res, "resourceId");
	if (!himds_machine_name_ok(m->name) || m->resource_id == NULL) {
		snprintf(err, errlen, "%s: resource.name and resource.resourceId "
		    "must be set (a name like \"web-01\")", path);
		return -1;
	}
	url = machine_string(m->doc, "cloudUrl");
	if (url == NULL || strncmp(url, "https://", 8) != 0 || url[8] == '\0') {
		snprintf(err, errlen, "%s: cloudUrl must be an https:// URL", path);
		return -1;
	}
	if ((m->cloud_url = strdup(url)) == NULL)
		goto fail;
	len = strlen(m->cloud_url);
	while (len > 8 && m->cloud_url[len - 1] == '/')
		m->cloud_url[--len] = '\0';
	if ((ca = machine_string(m->doc, "caFile")) == NULL || ca[0] == '\0') {
		snprintf(err, errlen, "%s: caFile must name the CA file", path);
		return -1;
	}
	/* A relative caFile lives beside machine.json. */
	if (ca[0] == '/')
		m->ca_file = strdup(ca);
	else if (asprintf(&m->ca_file, "%s/%s", state_dir, ca) == -1)
		m->ca_file = NULL;
	if (m->ca_file == NULL)
		goto fail;
	/* The cloud's trust anchor, read by root: only root may change it. */
	if (geteuid() == 0 && safedir_trusted_file(m->ca_file, NULL, 0, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: caFile %s", path, why);
		return -1;
	}
	iv = json_object_get(m->doc, "heartbeatIntervalSeconds");
	if (json_is_integer(iv) && json_integer_value(iv) > 0)
		m->heartbeat_interval_seconds = json_integer_value(iv);
	return 0;
 fail:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/*
 * machine.crt and machine.key from himds's folder, as himds's data: never
 * through a symlink there (root's guestconfig read the file it named), a
 * regular file of one link (a FIFO hung the reader), bounded, and the
 * certificate's text never taken for a path (identity_cert_times() reads
 * a file when it is not PEM).
 */
static int
machine_read_pair(struct himds_machine *m, const char *state_dir, char *err,
    size_t errlen)
{
	EVP_PKEY	*key;
	char		 dir[PATH_MAX], why[256];
	int		 dfd;

	snprintf(dir, sizeof(dir), "%s/" HIMDS_OWN_DIR, state_dir);
	if ((dfd = safedir_open(dir, why, sizeof(why))) == -1) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if ((m->cert_pem = safedir_read(dfd, ARC_FILE_MACHINE_CRT,
	    MACHINE_FILE_MAX, &m->cert_len, why, sizeof(why))) == NULL ||
	    (m->key_pem = safedir_read(dfd, ARC_FILE_MACHINE_KEY,
	    MACHINE_FILE_MAX, &m->key_len, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s/%s", dir, why);
		close(dfd);
		return -1;
	}
	close(dfd);
	if (strncmp(m->cert_pem, "-----BEGIN", 10) != 0) {
		snprintf(err, errlen, "%s: not a PEM certificate", m->cert_file);
		return -1;
	}
	if (identity_cert_times(m->cert_pem, &m->not_before, &m->not_after,
	    why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", m->cert_file, why);
		return -1;
	}
	if ((key = identity_key_parse(m->key_pem, m->key_len)) == NULL) {
		snprintf(err, errlen, "%s: not a PEM private key", m->key_file);
		return -1;
	}
	if (!identity_cert_matches(m->cert_pem, key)) {
		EVP_PKEY_free(key);
		snprintf(err, errlen, "%s does not belong to %s", m->cert_file,
		    m->key_file);
		return -1;
	}
	EVP_PKEY_free(key);
	return 0;
}

int
himds_machine_load(const char *state_dir, struct himds_machine **out,
    char *err, size_t errlen)
{
	int	rc;

	if ((rc = himds_machine_read_json(state_dir, out, err, errlen)) != 0)
		return rc;
	if (machine_read_pair(*out, state_dir, err, errlen) == -1) {
		himds_machine_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
himds_machine_read_json(const char *state_dir, struct himds_machine **out,
    char *err, size_t errlen)
{
	struct himds_machine	*m;
	json_error_t		 jerr;
	char			 path[PATH_MAX], why[256], *text;
	int			 sfd;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/" ARC_FILE_MACHINE_JSON, state_dir);
	/* The state dir is root's; its name may be root's symlink. */
	if ((sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			snprintf(err, errlen, "not connected: no %s", path);
			return 1;
		}
		snprintf(err, errlen, "%s: %s", state_dir, strerror(errno));
		return -1;
	}
	text = safedir_read(sfd, ARC_FILE_MACHINE_JSON, MACHINE_JSON_MAX, NULL,
	    why, sizeof(why));
	close(sfd);
	if (text == NULL) {
		if (errno == ENOENT) {
			snprintf(err, errlen, "not connected: no %s", path);
			return 1;
		}
		snprintf(err, errlen, "%s/%s", state_dir, why);
		return -1;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->doc = json_loads(text, 0, &jerr);
	free(text);
	if (m->doc == NULL) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		goto fail;
	}
	if (machine_parse(m, path, state_dir, err, errlen) == -1)
		goto fail;
	if (asprintf(&m->cert_file, "%s/" HIMDS_OWN_DIR "/" ARC_FILE_MACHINE_CRT,
	    state_dir) == -1 ||
	    asprintf(&m->key_file, "%s/" HIMDS_OWN_DIR "/" ARC_FILE_MACHINE_KEY,
	    state_dir) == -1) {
		m->cert_file = m->key_file = NULL;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	*out = m;
	return 0;
 fail:
	himds_machine_free(m);
	return -1;
}

void
himds_machine_free(struct himds_machine *m)
{
	if (m == NULL)
		return;
	json_decref(m->doc);
	free(m->cloud_url);
	free(m->ca_file);
	free(m->cert_file);
	free(m->key_file);
	free(m->cert_pem);
	if (m->key_pem != NULL)
		explicit_bzero(m->key_pem, m->key_len);
	free(m->key_pem);
	free(m);
}

static int
machine_rename(int dfd, const char *from, const char *to, char *err,
    size_t errlen)
{
	if (renameat(dfd, from, dfd, to) == -1) {
		snprintf(err, errlen, "rename %s to %s: %s", from, to,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
machine_open_dir(const char *dir, char *err, size_t errlen)
{
	int	dfd;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	return dfd;
}

int
himds_machine_install(const char *dir, const char *key_pem, size_t key_len,
    const char *cert_pem, size_t cert_len, char *err, size_t errlen)
{
	struct stat	old;
	gid_t		gid = (gid_t)-1;
	int		dfd;

	if ((dfd = machine_open_dir(dir, err, errlen)) == -1)
		return -1;
	/* The other readers of the key (arcproxy) are in the old key's group:
	 * the new one gets it on its fd, mode 0600 until then, so no one else
	 * ever reads it (himds must be a member of that group). */
	if (fstatat(dfd, "machine.key", &old, AT_SYMLINK_NOFOLLOW) == 0)
		gid = old.st_gid;
	if (atomicfile_writeat(dfd, "machine.crt.new", cert_pem, cert_len,
	    0644, (uid_t)-1, (gid_t)-1, 0, err, errlen) == -1 ||
	    atomicfile_writeat(dfd, "machine.key.new", key_pem, key_len, 0640,
	    (uid_t)-1, gid, 0, err, errlen) == -1 ||
	    machine_rename(dfd, "machine.key.new", "machine.key", err,
	    errlen) == -1 ||
	    machine_rename(dfd, "machine.crt.new", "machine.crt", err,
	    errlen) == -1)
		goto fail;
	fsync(dfd);
	close(dfd);
	return 0;
 fail:
	unlinkat(dfd, "machine.key.new", 0);
	unlinkat(dfd, "machine.crt.new", 0);
	close(dfd);
	return -1;
}

int
himds_machine_recover(const char *dir, char *err, size_t errlen)
{
	char	key[PATH_MAX], crt_new[PATH_MAX], key_new[PATH_MAX];
	int	have_key_new, have_crt_new, dfd, rc = 0;

	if ((dfd = machine_open_dir(dir, err, errlen)) == -1)
		return errno == ENOENT ? 0 : -1;
	snprintf(key, sizeof(key), "%s/machine.key", dir);
	snprintf(key_new, sizeof(key_new), "%s/machine.key.new", dir);
	snprintf(crt_new, sizeof(crt_new), "%s/machine.crt.new", dir);
	have_key_new = faccessat(dfd, "machine.key.new", F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
	have_crt_new = faccessat(dfd, "machine.crt.new", F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
	if (!have_crt_new) {
		if (have_key_new)	/* never reached its rename */
			unlinkat(dfd, "machine.key.new", 0);
	} else if (have_key_new && machine_pair_matches(key_new, crt_new)) {
		if (machine_rename(dfd, "machine.key.new", "machine.key", err,
		    errlen) == -1 || machine_rename(dfd, "machine.crt.new",
		    "machine.crt", err, errlen) == -1)
			rc = -1;
		else
			rc = 1;
	} else if (!have_key_new && machine_pair_matches(key, crt_new)) {
		/* The key was renamed, the certificate not yet. */
		rc = machine_rename(dfd, "machine.crt.new", "machine.crt", err,
		    errlen) == -1 ? -1 : 1;
	} else {
		unlinkat(dfd, "machine.key.new", 0);
		unlinkat(dfd, "machine.crt.new", 0);
	}
	close(dfd);
	return rc;
}
