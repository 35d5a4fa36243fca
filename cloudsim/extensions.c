/* extensions.c -- extensions on the control plane: the operator's PUT, DELETE and GET, the machine's settings certificate, goal state and status reports, protected settings encrypted to the settings certificate (CMS). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "atomicfile.h"
#include "cloudsim.h"
#include "extensions.h"
#include "extreq.h"
#include "extstore.h"
#include "goalstate.h"
#include "httpd.h"
#include "log.h"
#include "packages.h"
#include "registry.h"

#define EXT_CATALOG_MAX		65536	/* bytes of a catalog entry */
#define EXT_THUMBPRINT_LEN	41	/* SHA-1 in hex and its NUL */

/* The catalog entry packages/P.T-V.json as the goal state's "package":
 * {"url", "signatureUrl", "sha256", "size"}; NULL with 400 answered. */
static json_t *
ext_catalog(struct cloudsim *cs, struct httpd_request *req,
    const struct extreq_put *p)
{
	json_error_t	 jerr;
	json_t		*doc = NULL, *pkg = NULL;
	const char	*file, *sig, *sha, *kind;
	char		 base[256], entry[300], url[512], sig_url[512], err[256];
	char		*text = NULL;
	size_t		 i;
	int		 dirfd;

	snprintf(base, sizeof(base), "%s.%s-%s", p->publisher, p->type,
	    p->version);
	snprintf(entry, sizeof(entry), "%s.json", base);
	if ((dirfd = open(cs->packages_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 ||
	    (text = atomicfile_readat(dirfd, entry, EXT_CATALOG_MAX, NULL, err,
	    sizeof(err))) == NULL) {
		httpd_error(req, 400, "PackageNotInCatalog", "%s is not in the "
		    "catalog (no packages/%s; publish it with cloudsim ext-pack)",
		    base, entry);
		goto done;
	}
	doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	kind = json_string_value(json_object_get(doc, "kind"));
	file = json_string_value(json_object_get(doc, "file"));
	sig = json_string_value(json_object_get(doc, "signature"));
	sha = json_string_value(json_object_get(doc, "sha256"));
	for (i = 0; sha != NULL && sha[i] != '\0'; i++)
		if (strchr("0123456789abcdefABCDEF", sha[i]) == NULL)
			break;
	if (doc == NULL || kind == NULL || strcmp(kind, "extension") != 0 ||
	    !json_is_string(json_object_get(doc, "publisher")) ||
	    strcmp(json_string_value(json_object_get(doc, "publisher")),
	    p->publisher) != 0 ||
	    !json_is_string(json_object_get(doc, "type")) ||
	    strcmp(json_string_value(json_object_get(doc, "type")), p->type) != 0 ||
	    !json_is_string(json_object_get(doc, "version")) ||
	    strcmp(json_string_value(json_object_get(doc, "version")),
	    p->version) != 0 ||
	    file == NULL || !packages_name_ok(file) ||
	    sig == NULL || !packages_name_ok(sig) ||
	    sha == NULL || i != 64 || sha[i] != '\0' ||
	    !json_is_integer(json_object_get(doc, "size")) ||
	    json_integer_value(json_object_get(doc, "size")) < 0) {
		httpd_error(req, 400, "PackageNotInCatalog", "packages/%s is not "
		    "an extension's catalog entry for %s (expected {\"kind\": "
		    "\"extension\", \"publisher\", \"type\", \"version\", \"file\", "
		    "\"signature\", \"sha256\", \"size\"})", entry, base);
		goto done;
	}
	snprintf(url, sizeof(url), "%s%s", EXTENSIONS_PACKAGE_BASE, file);
	snprintf(sig_url, sizeof(sig_url), "%s%s", EXTENSIONS_PACKAGE_BASE, sig);
	if ((pkg = json_pack("{s:s, s:s, s:s, s:O}", "url", url, "signatureUrl",
	    sig_url, "sha256", sha, "size", json_object_get(doc, "size"))) ==
	    NULL)
		httpd_error(req, 500, "InternalError", "out of memory");
 done:
	if (dirfd != -1)
		close(dirfd);
	free(text);
	json_decref(doc);
	return pkg;
}

/* What the operator sees of one extension. */
static json_t *
ext_view(const char *name, json_t *e)
{
	json_t	*status = json_object_get(e, "status");
	json_t	*when = json_object_get(e, "statusTime");

	return json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:O}",
	    "name", name,
	    "publisher", json_object_get(e, "publisher"),
	    "type", json_object_get(e, "type"),
	    "version", json_object_get(e, "version"),
	    "desiredState", json_object_get(e, "desiredState"),
	    "sequenceNumber", json_object_get(e, "sequenceNumber"),
	    "status", status != NULL ? status : json_null(),
	    "statusTime", when != NULL ? when : json_null());
}

/* Writes the state after a change of machine's entry; on failure the
 * change is undone (snapshot) and 500 answered: -1. */
static int
ext_save(struct cloudsim *cs, struct httpd_request *req, const char *machine,
    json_t *snapshot)
{
	char	err[512];

	if (extstore_save(cs->extensions, err, sizeof(err)) == 0)
		return 0;
	log_warnx("%s", err);
	extstore_restore(cs->extensions, machine, snapshot);
	httpd_error(req, 500, "InternalError", "cannot save the extensions' "
	    "state: %s", err);
	return -1;
}

/* The registered machine, for the operator: NULL with 404 answered. */
static int
ext_machine_known(struct cloudsim *cs, struct httpd_request *req,
    const char *machine)
{
	if (registry_find(cs->registry, machine) != NULL)
		return 1;
	httpd_error(req, 404, "NotFound", "no machine named %.64s", machine);
	return 0;
}

/* The extension's entry; NULL with 404 answered. */
static json_t *
ext_find(struct cloudsim *cs, struct httpd_request *req, const char *machine,
    const char *ext)
{
	json_t	*m, *e = NULL;

	if ((m = extstore_machine(cs->extensions, machine, 0)) != NULL)
		e = json_object_get(extstore_extensions(m), ext);
	if (e == NULL)
		httpd_error(req, 404, "ExtensionNotFound", "machine %.64s has no "
		    "extension named %.64s", machine, ext);
	return e;
}

void
extensions_operator_put(struct cloudsim *cs, struct httpd_request *req,
    const char *machine, const char *ext)
{
	struct extreq_put	 p;
	json_t			*pkg = NULL, *m, *exts, *old, *e, *snapshot;
	const char		*code;
	char			 why[256];
	unsigned long long	 gseq;
	json_int_t		 seq = 0;
	int			 created;

	if (!ext_machine_known(cs, req, machine))
		return;
	if (!registry_name_ok(ext)) {
		httpd_error(req, 400, "InvalidExtensionName", "%.64s: an "
		    "extension name has 1-63 of [A-Za-z0-9-_.], starting with a "
		    "letter or digit", ext);
		return;
	}
	if (extreq_put_parse(req->body, req->body_len, &p, &code, why,
	    sizeof(why)) == -1) {
		httpd_error(req, 400, code, "%s", why);
		return;
	}
	if ((pkg = ext_catalog(cs, req, &p)) == NULL)
		goto done;
	snapshot = extstore_snapshot(extstore_machine(cs->extensions, machine, 0));
	if ((m = extstore_machine(cs->extensions, machine, 1)) == NULL) {
		json_decref(snapshot);
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	exts = extstore_extensions(m);
	old = json_object_get(exts, ext);
	created = old == NULL;
	if (!created)
		seq = json_integer_value(json_object_get(old, "sequenceNumber")) + 1;
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:O, s:O, s:O, s:O, s:O}",
	    "name", ext, "publisher", p.publisher, "type", p.type,
	    "version", p.version, "desiredState", "present",
	    "sequenceNumber", seq,
	    "publicSettings", p.public_settings,
	    "protectedSettings", p.protected_settings != NULL ?
	    p.protected_settings : json_null(),
	    "package", pkg,
	    "status", old != NULL && json_object_get(old, "status") != NULL ?
	    json_object_get(old, "status") : json_null(),
	    "statusTime", old != NULL && json_object_get(old, "statusTime") !=
	    NULL ? json_object_get(old, "statusTime") : json_null());
	if (e == NULL || json_object_set_new(exts, ext, e) == -1) {
		extstore_restore(cs->extensions, machine, snapshot);
		json_decref(snapshot);
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	gseq = extstore_bump(m);
	if (ext_save(cs, req, machine, snapshot) == 0) {
		goalstate_changed(cs, machine, GOALSTATE_EXTENSIONS, gseq);
		httpd_reply(req, created ? 201 : 200, ext_view(ext,
		    json_object_get(extstore_extensions(m), ext)));
		snprintf(req->note, sizeof(req->note), "extension %s of %s: "
		    "%s.%s %s, sequenceNumber %lld, goalStateSeq %llu", ext,
		    machine, p.publisher, p.type, p.version, (long long)seq, gseq);
	}
	json_decref(snapshot);
 done:
	json_decref(pkg);
	extreq_put_free(&p);
}

void
extensions_operator_delete(struct cloudsim *cs, struct httpd_request *req,
    const char *machine, const char *ext)
{
	json_t			*m, *e, *snapshot;
	unsigned long long	 gseq;
	json_int_t		 seq;

	if (!ext_machine_known(cs, req, machine) ||
	    (e = ext_find(cs, req, machine, ext)) == NULL)
		return;
	m = extstore_machine(cs->extensions, machine, 0);
	snapshot = extstore_snapshot(m);
	e = json_object_get(extstore_extensions(m), ext);
	seq = json_integer_value(json_object_get(e, "sequenceNumber")) + 1;
	json_object_set_new(e, "desiredState", json_string("absent"));
	json_object_set_new(e, "sequenceNumber", json_integer(seq));
	gseq = extstore_bump(m);
	if (ext_save(cs, req, machine, snapshot) == 0) {
		goalstate_changed(cs, machine, GOALSTATE_EXTENSIONS, gseq);
		httpd_reply(req, 200, ext_view(ext, json_object_get(
		    extstore_extensions(m), ext)));
		snprintf(req->note, sizeof(req->note), "extension %s of %s: "
		    "absent, sequenceNumber %lld, goalStateSeq %llu", ext, machine,
		    (long long)seq, gseq);
	}
	json_decref(snapshot);
}

void
extensions_operator_get(struct cloudsim *cs, struct httpd_request *req,
    const char *machine, const char *ext)
{
	json_t	*e;

	if (!ext_machine_known(cs, req, machine) ||
	    (e = ext_find(cs, req, machine, ext)) == NULL)
		return;
	httpd_reply(req, 200, ext_view(ext, e));
}

void
extensions_operator_list(struct cloudsim *cs, struct httpd_request *req,
    const char *machine)
{
	json_t		*m, *list, *e;
	const char	*name;

	if (!ext_machine_known(cs, req, machine))
		return;
	if ((list = json_array()) == NULL)
		goto fail;
	if ((m = extstore_machine(cs->extensions, machine, 0)) != NULL)
		json_object_foreach(extstore_extensions(m), name, e)
			if (json_array_append_new(list, ext_view(name, e)) == -1)
				goto fail;
	httpd_reply(req, 200, list);
	return;
 fail:
	json_decref(list);
	httpd_error(req, 500, "InternalError", "out of memory");
}

/* Is the settings certificate's key one we encrypt to?  0, or -1 with why. */
static int
ext_cert_key_ok(EVP_PKEY *key, char *why, size_t whylen)
{
	char	group[64];
	size_t	glen = 0;

	if (key == NULL) {
		snprintf(why, whylen, "the certificate has no usable public key");
		return -1;
	}
	if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(key, "group", group,
		    sizeof(group), &glen) == 1 && (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "secp384r1") == 0))
			return 0;
		snprintf(why, whylen, "its EC key is on curve %s; expected P-256 "
		    "or P-384", glen > 0 ? group : "(unknown)");
		return -1;
	}
	if (EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= 2048)
		return 0;
	snprintf(why, whylen, "expected an EC P-256 or RSA 2048 (or larger) key");
	return -1;
}

static void
ext_thumbprint(X509 *x, char out[EXT_THUMBPRINT_LEN])
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned	n = 0, i;

	out[0] = '\0';
	if (X509_digest(x, EVP_sha1(), md, &n) != 1 || n != 20)
		return;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
}

static X509 *
ext_pem_cert(const char *pem)
{
	BIO	*bio;
	X509	*x;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return x;
}

void
extensions_settings_certificate(struct cloudsim *cs, struct httpd_request *req,
    const char *machine)
{
	X509		*x = NULL, *peer;
	json_t		*doc = NULL, *m, *snapshot;
	const char	*pem, *code;
	char		 why[256], thumb[EXT_THUMBPRINT_LEN];

	if (extreq_cert_parse(req->body, req->body_len, &doc, &pem, &code, why,
	    sizeof(why)) == -1) {
		httpd_error(req, 400, code, "%s", why);
		return;
	}
	if ((x = ext_pem_cert(pem)) == NULL) {
		httpd_error(req, 400, "InvalidCertificate", "certificate: not a "
		    "PEM certificate");
		goto done;
	}
	if (ext_cert_key_ok(X509_get0_pubkey(x), why, sizeof(why)) == -1) {
		httpd_error(req, 400, "InvalidCertificate", "certificate: %s", why);
		goto done;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		httpd_error(req, 400, "InvalidCertificate", "certificate: it has "
		    "expired");
		goto done;
	}
	peer = req->ssl != NULL ? SSL_get0_peer_certificate(req->ssl) : NULL;
	if (peer != NULL && EVP_PKEY_eq(X509_get0_pubkey(peer),
	    X509_get0_pubkey(x)) == 1) {
		httpd_error(req, 400, "InvalidCertificate", "certificate: it has "
		    "the machine identity's key; the settings certificate needs "
		    "a key of its own");
		goto done;
	}
	ext_thumbprint(x, thumb);
	snapshot = extstore_snapshot(extstore_machine(cs->extensions, machine, 0));
	if ((m = extstore_machine(cs->extensions, machine, 1)) == NULL ||
	    thumb[0] == '\0') {
		json_decref(snapshot);
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	json_object_set_new(m, "settingsCertificate", json_string(pem));
	json_object_set_new(m, "settingsThumbprint", json_string(thumb));
	if (ext_save(cs, req, machine, snapshot) == 0) {
		httpd_reply(req, 200, json_pack("{s:s}", "thumbprint", thumb));
		snprintf(req->note, sizeof(req->note), "settings certificate of "
		    "%s: %s", machine, thumb);
	}
	json_decref(snapshot);
 done:
	X509_free(x);
	json_decref(doc);
}

/* settings as the base64 of a DER CMS EnvelopedData (AES-256-CBC) to x. */
static char *
ext_encrypt(X509 *x, json_t *settings)
{
	STACK_OF(X509)	*certs = NULL;
	CMS_ContentInfo	*cms = NULL;
	BIO		*in = NULL, *der = NULL;
	BUF_MEM		*mem;
	char		*text, *b64 = NULL;

	if ((text = json_dumps(settings, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		return NULL;
	if ((certs = sk_X509_new_null()) == NULL || sk_X509_push(certs, x) == 0 ||
	    (in = BIO_new_mem_buf(text, (int)strlen(text))) == NULL ||
	    (der = BIO_new(BIO_s_mem())) == NULL ||
	    (cms = CMS_encrypt(certs, in, EVP_aes_256_cbc(), CMS_BINARY)) == NULL ||
	    i2d_CMS_bio(der, cms) != 1)
		goto done;
	BIO_get_mem_ptr(der, &mem);
	if ((b64 = malloc(4 * ((mem->length + 2) / 3) + 1)) != NULL)
		EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)mem->data,
		    (int)mem->length);
 done:
	ERR_clear_error();
	CMS_ContentInfo_free(cms);
	BIO_free(der);
	BIO_free(in);
	sk_X509_free(certs);
	free(text);
	return b64;
}

/* The protected settings already encrypted for this sequenceNumber and
 * certificate (borrowed), or NULL. */
static json_t *
ext_cached_cms(json_t *e, const char *thumb)
{
	json_t		*cached = json_object_get(e, "protectedSettingsCms");
	const char	*was = json_string_value(json_object_get(cached,
			    "thumbprint"));

	if (was == NULL || thumb == NULL || strcmp(was, thumb) != 0 ||
	    !json_equal(json_object_get(cached, "sequenceNumber"),
	    json_object_get(e, "sequenceNumber")) ||
	    !json_is_string(json_object_get(cached, "data")))
		return NULL;
	return json_object_get(cached, "data");
}

/* One extension as the machine gets it; NULL with the answer given. */
static json_t *
ext_goal_entry(struct httpd_request *req, const char *machine,
    const char *name, json_t *e, X509 *cert, const char *thumb)
{
	json_t	*o, *cached, *prot = json_object_get(e, "protectedSettings");
	char	*b64;

	if ((o = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:O}",
	    "name", name,
	    "publisher", json_object_get(e, "publisher"),
	    "type", json_object_get(e, "type"),
	    "version", json_object_get(e, "version"),
	    "desiredState", json_object_get(e, "desiredState"),
	    "sequenceNumber", json_object_get(e, "sequenceNumber"),
	    "publicSettings", json_object_get(e, "publicSettings"))) == NULL) {
		httpd_error(req, 500, "InternalError", "out of memory");
		return NULL;
	}
	if (json_is_object(prot)) {
		if (cert == NULL) {
			httpd_error(req, 409, "NoSettingsCertificate", "extension "
			    "%s has protected settings and machine %s has no "
			    "settings certificate: PUT /machines/%s/"
			    "settingsCertificate first", name, machine, machine);
			json_decref(o);
			return NULL;
		}
		/* The same bytes until the settings or the certificate change,
		 * as Azure's goal state keeps them. */
		if ((cached = ext_cached_cms(e, thumb)) != NULL)
			json_object_set(o, "protectedSettings", cached);
		else {
			if ((b64 = ext_encrypt(cert, prot)) == NULL) {
				httpd_error(req, 500, "InternalError", "cannot "
				    "encrypt the protected settings of %s", name);
				json_decref(o);
				return NULL;
			}
			json_object_set_new(o, "protectedSettings",
			    json_string(b64));
			json_object_set_new(e, "protectedSettingsCms",
			    json_pack("{s:s, s:O, s:s}", "thumbprint", thumb,
			    "sequenceNumber", json_object_get(e, "sequenceNumber"),
			    "data", b64));
			free(b64);
		}
		json_object_set_new(o, "protectedSettingsCertThumbprint",
		    json_string(thumb));
	}
	json_object_set(o, "package", json_object_get(e, "package"));
	return o;
}

void
extensions_goal_state(struct cloudsim *cs, struct httpd_request *req,
    const char *machine)
{
	json_t		*m, *list, *e, *o;
	X509		*cert = NULL;
	const char	*name, *pem, *thumb;
	unsigned long long seq = 0;

	if ((list = json_array()) == NULL) {
		httpd_error(req, 500, "InternalError", "out of memory");
		return;
	}
	if ((m = extstore_machine(cs->extensions, machine, 0)) != NULL) {
		seq = extstore_seq(m);
		pem = json_string_value(json_object_get(m, "settingsCertificate"));
		thumb = json_string_value(json_object_get(m, "settingsThumbprint"));
		if (pem != NULL && (cert = ext_pem_cert(pem)) == NULL)
			log_warnx("%s: the stored settings certificate does not "
			    "parse", machine);
		json_object_foreach(extstore_extensions(m), name, e) {
			if ((o = ext_goal_entry(req, machine, name, e, cert,
			    thumb)) == NULL)
				goto done;
			json_array_append_new(list, o);
		}
	}
	httpd_reply(req, 200, json_pack("{s:I, s:O}", "goalStateSeq",
	    (json_int_t)seq, "extensions", list));
	snprintf(req->note, sizeof(req->note), "goal state of %s: seq %llu, %zu "
	    "extension%s", machine, seq, json_array_size(list),
	    json_array_size(list) == 1 ? "" : "s");
 done:
	X509_free(cert);
	json_decref(list);
}

void
extensions_status(struct cloudsim *cs, struct httpd_request *req,
    const char *machine, const char *ext)
{
	struct extreq_status	 s;
	json_t			*m, *e, *report, *snapshot;
	const char		*code, *desired;
	char			 why[256], now[REGISTRY_TIME_MAX];
	int			 removed;

	if ((e = ext_find(cs, req, machine, ext)) == NULL)
		return;
	if (extreq_status_parse(req->body, req->body_len, &s, &code, why,
	    sizeof(why)) == -1) {
		httpd_error(req, 400, code, "%s", why);
		return;
	}
	if ((report = extreq_status_json(&s)) == NULL) {
		httpd_error(req, 500, "InternalError", "out of memory");
		goto done;
	}
	m = extstore_machine(cs->extensions, machine, 0);
	snapshot = extstore_snapshot(m);
	e = json_object_get(extstore_extensions(m), ext);
	desired = json_string_value(json_object_get(e, "desiredState"));
	/* A successful uninstall of what is no longer wanted ends the entry. */
	removed = desired != NULL && strcmp(desired, "absent") == 0 &&
	    strcmp(s.operation, "Uninstall") == 0 &&
	    strcmp(s.status, "success") == 0;
	registry_time_text(time(NULL), now, sizeof(now));
	if (removed)
		json_object_del(extstore_extensions(m), ext);
	else {
		json_object_set_new(e, "status", report);
		json_object_set_new(e, "statusTime", json_string(now));
		report = NULL;
	}
	if (ext_save(cs, req, machine, snapshot) == 0) {
		httpd_reply(req, 200, json_pack("{s:s, s:I, s:b}", "name", ext,
		    "sequenceNumber", (json_int_t)s.sequence_number, "removed",
		    removed));
		snprintf(req->note, sizeof(req->note), "status of %s on %s: "
		    "%s %s code %lld (seq %lld)%s", ext, machine, s.operation,
		    s.status, s.code, s.sequence_number, removed ?
		    "; uninstalled, entry removed" : "");
	}
	json_decref(snapshot);
	json_decref(report);
 done:
	extreq_status_free(&s);
}

void
extensions_machine_deleted(struct cloudsim *cs, const char *machine)
{
	char	err[512];

	if (extstore_machine(cs->extensions, machine, 0) == NULL)
		return;
	extstore_forget(cs->extensions, machine);
	if (extstore_save(cs->extensions, err, sizeof(err)) == -1)
		log_warnx("%s", err);
}
