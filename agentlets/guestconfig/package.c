/* package.c -- an assignment's package fetched through arcproxy (lib/download: resumed, retried), checked (size, SHA-256, the publisher's signature) and unpacked, in a thread of its own while the loop goes on evaluating. */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "atomicfile.h"
#include "download.h"
#include "guestconfig.h"
#include "log.h"
#include "machine.h"
#include "pkginstall.h"
#include "pkgverify.h"
#include "safedir.h"
#include "unpack.h"

#define GC_PACKAGE_MAX		(100ULL << 20)	/* Azure's bound for a Linux package */
/* Unpacked: a document and its metadata, not the 2 GiB of an extension
 * (50 assignments of those would fill the state dir). */
#define GC_UNPACK_MAX_BYTES	(64ULL << 20)
#define GC_UNPACK_MAX_ENTRIES	1000
#define GC_META_MAX		4096
#define GC_STALL_SECONDS	10	/* an attempt without a byte for this long ends */
#define GC_REFUSED_MAX		(1 << 20)	/* refused.json read at most */
#define GC_REFUSAL_FIRST	3600		/* a refused package waits 1 h, */
#define GC_REFUSAL_LAST		(24 * 3600)	/* doubling up to 24 h */

/*
 * One package on its way.  The loop fills the request, the thread fills the
 * result and writes a byte to done[1]; the loop reads it, joins the thread
 * and finds the assignment again by name and hash (it may have gone).
 */
struct gc_fetch {
	struct gc	*gc;
	char		 name[GC_NAME_MAX];
	char		 hash[65];
	char		 dir[GC_NAME_MAX + 24];	/* packages/<dir>: where it unpacks */
	char		 zip[GC_NAME_MAX + 32];	/* packages/<dir>.zip while it is checked */
	char		*url;
	char		*sig_url;
	char		*proxy;
	char		*ca_file;		/* the cloud's CA, machine.json's */
	char		*publisher;
	char		*version;		/* the assignment's; NULL: any */
	char		*packages_ca;
	int		 pkg_fd;		/* the loop's packages/ */
	pthread_t	 thread;
	int		 started;
	int		 done[2];		/* the thread's "finished" byte */
	struct event	*done_ev;
	atomic_int	 cancel;		/* SIGTERM: stop between attempts */
	/* The result. */
	int		 ok;
	int		 refused;		/* the package itself, not the way */
	char		 err[600];
	char		*config_name;
	char		*config_version;
};

static const char *
gc_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* metadata.json of the unpacked package: its name and version, the ones
 * its publisher signed, and the document <name>.json beside it.  0, or -1
 * with err. */
static int
gc_package_meta(int pkg_fd, const char *dir, const struct pkg_statement *sgn,
    char **name, char **version, char *err, size_t errlen)
{
	json_t		*meta;
	const char	*n, *v;
	char		*text, why[256], doc[GC_NAME_MAX + 8];
	struct stat	 st;
	int		 dfd;

	if ((dfd = openat(pkg_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	text = atomicfile_readat(dfd, "metadata.json", GC_META_MAX, NULL, why,
	    sizeof(why));
	meta = text != NULL ? json_loads(text, 0, NULL) : NULL;
	free(text);
	n = gc_str(meta, "name");
	v = gc_str(meta, "version");
	if (!gc_name_ok(n)) {
		snprintf(err, errlen, "metadata.json: expected {\"name\", "
		    "\"version\"} naming the configuration");
		goto fail;
	}
	/* What the report calls the configuration is what was signed. */
	if (strcmp(n, sgn->name) != 0 || v == NULL ||
	    strcmp(v, sgn->version) != 0) {
		snprintf(err, errlen, "metadata.json names configuration %.64s "
		    "%.64s, its signature %s %s", n, v != NULL ? v : "(no version)",
		    sgn->name, sgn->version);
		goto fail;
	}
	snprintf(doc, sizeof(doc), "%s.json", n);
	if (fstatat(dfd, doc, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the package has no configuration "
		    "document %s", doc);
		goto fail;
	}
	*name = strdup(n);
	*version = v != NULL ? strdup(v) : NULL;
	json_decref(meta);
	close(dfd);
	return *name != NULL ? 0 : -1;
 fail:
	json_decref(meta);
	close(dfd);
	return -1;
}

static int
gc_fetch_stop(void *arg)
{
	struct gc_fetch	*f = arg;

	return atomic_load(&f->cancel);
}

/* The thread: download, signature, check, unpack; never touches the loop. */
static void *
gc_fetch_run(void *arg)
{
	struct gc_fetch		*f = arg;
	struct download_req	 req;
	struct download_result	 res;
	struct pkg_expect	 exp;
	struct pkg_statement	 sgn;
	struct unpack_limits	 lim = { GC_UNPACK_MAX_BYTES, GC_UNPACK_MAX_ENTRIES };
	enum pkginstall_stage	 stage;
	void			*sig = NULL;
	size_t			 siglen = 0;
	char			 err[512];

	memset(&req, 0, sizeof(req));
	req.url = f->url;
	req.proxy = f->proxy;
	req.ca_file = f->ca_file;
	req.max_bytes = GC_PACKAGE_MAX;
	req.stall_seconds = GC_STALL_SECONDS;
	req.stop = gc_fetch_stop;
	req.stop_arg = f;
	if (download_fetch(f->pkg_fd, f->zip, &req, &res, err,
	    sizeof(err)) == -1) {
		snprintf(f->err, sizeof(f->err), "download: %s", err);
		f->refused = res.too_big;
		goto done;
	}
	req.url = f->sig_url;
	req.max_bytes = PKGVERIFY_SIG_MAX;
	if (download_small(&req, PKGVERIFY_SIG_MAX, &sig, &siglen, err,
	    sizeof(err)) == -1) {
		snprintf(f->err, sizeof(f->err), "signature: %s", err);
		goto done;
	}
	/*
	 * The signature must name a guest configuration (never an extension's
	 * package) and, when the assignment has a version, that version.  The
	 * assignment is not named after its configuration (one package may
	 * serve many), so the configuration's name is checked against the
	 * package's metadata.json below.
	 */
	memset(&exp, 0, sizeof(exp));
	exp.kind = PKG_GUESTCONFIG;
	exp.publisher = f->publisher;
	exp.name = NULL;
	exp.version = f->version;
	exp.sha256 = f->hash;
	exp.size = 0;		/* the contract: what was downloaded */
	if (pkginstall_verified(f->pkg_fd, f->zip, f->packages_ca, &exp, sig,
	    siglen, &sgn, f->pkg_fd, f->dir, 0700, &lim, &stage, err,
	    sizeof(err)) == -1) {
		snprintf(f->err, sizeof(f->err), "%s%s", stage ==
		    PKGINSTALL_CA ? "packages CA: " : stage ==
		    PKGINSTALL_UNPACK ? "unpack: " : "", err);
		/* Our own CA file, or the download gone: not the package. */
		f->refused = stage == PKGINSTALL_VERIFY ||
		    stage == PKGINSTALL_UNPACK;
		goto done;
	}
	if (gc_package_meta(f->pkg_fd, f->dir, &sgn, &f->config_name,
	    &f->config_version, f->err, sizeof(f->err)) == -1) {
		unpack_remove_tree(f->pkg_fd, f->dir, err, sizeof(err));
		f->refused = 1;
		goto done;
	}
	f->ok = 1;
 done:
	unlinkat(f->pkg_fd, f->zip, 0);
	free(sig);
	if (write(f->done[1], "x", 1) != 1)
		atomic_store(&f->cancel, 1);
	return NULL;
}

static void
gc_fetch_free(struct gc_fetch *f)
{
	if (f == NULL)
		return;
	if (f->started) {
		atomic_store(&f->cancel, 1);
		pthread_join(f->thread, NULL);
	}
	if (f->done_ev != NULL)
		event_free(f->done_ev);
	if (f->done[0] != -1)
		close(f->done[0]);
	if (f->done[1] != -1)
		close(f->done[1]);
	free(f->url);
	free(f->sig_url);
	free(f->proxy);
	free(f->ca_file);
	free(f->publisher);
	free(f->version);
	free(f->packages_ca);
	free(f->config_name);
	free(f->config_version);
	free(f);
}

/*
 * <own>/refused.json: the packages refused, so that one is not downloaded
 * again at every poll.  {"version": 1, "refusals": [{"name", "contentUri",
 * "contentHash", "version", "reason", "refusedAt", "retryAt", "attempts"}]}
 * with times in seconds since the epoch.  An entry holds while its
 * assignment keeps the same contentUri, contentHash and version, until
 * retryAt (1 h after the first refusal, doubling to 24 h); removing the
 * file (or an entry) asks for a download at the next poll.
 */
static json_t *
gc_refused_load(struct gc *gc)
{
	json_t	*doc = NULL;
	char	*text, err[512];
	size_t	 len;

	if ((text = atomicfile_readat(gc->own_fd, GC_REFUSED_FILE,
	    GC_REFUSED_MAX, &len, err, sizeof(err))) != NULL) {
		doc = json_loadb(text, len, 0, NULL);
		free(text);
		if (!json_is_array(json_object_get(doc, "refusals"))) {
			log_warnx("%s: not a list of refusals: ignored",
			    GC_REFUSED_FILE);
			json_decref(doc);
			doc = NULL;
		}
	} else if (errno != ENOENT)
		log_warnx("%s: %s", GC_REFUSED_FILE, err);
	if (doc == NULL)
		doc = json_pack("{s:i, s:[]}", "version", 1, "refusals");
	return doc;
}

static void
gc_refused_save(struct gc *gc, json_t *doc)
{
	char	*text, err[512];

	if ((text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		log_warnx("%s: out of memory", GC_REFUSED_FILE);
		return;
	}
	if (atomicfile_writeat(gc->own_fd, GC_REFUSED_FILE, text, strlen(text),
	    0600, ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err,
	    sizeof(err)) == -1)
		log_warnx("%s/%s/%s: %s", gc->state_dir, GC_OWN_DIR,
		    GC_REFUSED_FILE, err);
	free(text);
}

/* The entry of a's name, and its index; NULL when there is none. */
static json_t *
gc_refused_find(json_t *doc, const char *name, size_t *at)
{
	json_t	*e;
	size_t	 i;

	json_array_foreach(json_object_get(doc, "refusals"), i, e)
		if (json_is_string(json_object_get(e, "name")) &&
		    strcmp(gc_str(e, "name"), name) == 0) {
			*at = i;
			return e;
		}
	return NULL;
}

/* Is e about a's package as it is now (same uri, hash, version)? */
static int
gc_refused_same(json_t *e, const struct gc_assignment *a)
{
	const char	*v = gc_str(e, "version");

	return gc_str(e, "contentUri") != NULL && gc_str(e, "contentHash") !=
	    NULL && gc_str(e, "reason") != NULL &&
	    strcmp(gc_str(e, "contentUri"), a->content_uri) == 0 &&
	    strcmp(gc_str(e, "contentHash"), a->content_hash) == 0 &&
	    ((v == NULL && a->version == NULL) || (v != NULL &&
	    a->version != NULL && strcmp(v, a->version) == 0));
}

/* a's package was refused (why), again or for the first time. */
static void
gc_refused_add(struct gc *gc, const struct gc_assignment *a, const char *why)
{
	json_t		*doc, *e, *list;
	json_int_t	 attempts = 0, i;
	long long	 wait = GC_REFUSAL_FIRST;
	time_t		 now = time(NULL);
	size_t		 at;

	doc = gc_refused_load(gc);
	list = json_object_get(doc, "refusals");
	if ((e = gc_refused_find(doc, a->name, &at)) != NULL) {
		if (gc_refused_same(e, a))
			attempts = json_integer_value(json_object_get(e,
			    "attempts"));
		json_array_remove(list, at);
	}
	/* The count of this one (an edited file cannot overflow it). */
	attempts = attempts >= 1 && attempts < 1000 ? attempts + 1 : 1;
	for (i = 1; i < attempts && wait < GC_REFUSAL_LAST; i++)
		wait *= 2;
	if (wait > GC_REFUSAL_LAST)
		wait = GC_REFUSAL_LAST;
	e = json_pack("{s:s, s:s, s:s, s:s*, s:s, s:I, s:I, s:I}",
	    "name", a->name, "contentUri", a->content_uri,
	    "contentHash", a->content_hash, "version", a->version,
	    "reason", why, "refusedAt", (json_int_t)now,
	    "retryAt", (json_int_t)(now + wait), "attempts", attempts);
	if (e == NULL || json_array_append_new(list, e) == -1) {
		json_decref(doc);
		return;
	}
	gc_refused_save(gc, doc);
	json_decref(doc);
	log_info("assignment %s: not downloaded again for %lld s unless the "
	    "assignment changes", a->name, wait);
}

/* a's package was accepted: its refusal, if any, is forgotten. */
static void
gc_refused_forget(struct gc *gc, const struct gc_assignment *a)
{
	json_t	*doc;
	size_t	 at;

	doc = gc_refused_load(gc);
	if (gc_refused_find(doc, a->name, &at) != NULL &&
	    json_array_remove(json_object_get(doc, "refusals"), at) == 0)
		gc_refused_save(gc, doc);
	json_decref(doc);
}

/*
 * After each list (and at start): an assignment whose package was refused
 * as it is now stays refused until the entry's retryAt, reported as such
 * at every list; any other is downloaded (again).  Entries of assignments
 * gone or changed are dropped.
 */
void
gc_refused_apply(struct gc *gc)
{
	struct gc_assignment	*a;
	json_t			*doc, *list, *e;
	time_t			 now = time(NULL);
	size_t			 i, at;
	int			 changed = 0;

	doc = gc_refused_load(gc);
	list = json_object_get(doc, "refusals");
	TAILQ_FOREACH(a, &gc->assignments, entry) {
		if (a->pkg != GC_PKG_NONE && a->pkg != GC_PKG_REFUSED)
			continue;
		e = gc_refused_find(doc, a->name, &at);
		if (e != NULL && gc_refused_same(e, a) &&
		    json_integer_value(json_object_get(e, "retryAt")) > now) {
			snprintf(a->pkg_error, sizeof(a->pkg_error), "%.500s",
			    gc_str(e, "reason"));
			a->pkg = GC_PKG_REFUSED;
			a->due.tv_sec = 0;	/* the report says so again */
			continue;
		}
		if (a->pkg == GC_PKG_REFUSED) {
			log_info("assignment %s: the refused package is "
			    "downloaded again", a->name);
			a->pkg = GC_PKG_NONE;
		}
	}
	/* What no assignment has any more, or not as it was refused. */
	for (i = json_array_size(list); i-- > 0; ) {
		e = json_array_get(list, i);
		TAILQ_FOREACH(a, &gc->assignments, entry)
			if (gc_str(e, "name") != NULL &&
			    strcmp(a->name, gc_str(e, "name")) == 0)
				break;
		if (a == NULL || !gc_refused_same(e, a)) {
			json_array_remove(list, i);
			changed = 1;
		}
	}
	if (changed)
		gc_refused_save(gc, doc);
	json_decref(doc);
}

/* The thread is done: its result to the assignment, if it is still there. */
static void
gc_on_fetched(evutil_socket_t fd, short what, void *arg)
{
	struct gc_fetch		*f = arg;
	struct gc		*gc = f->gc;
	struct gc_assignment	*a;
	char			 b, err[512];

	(void)what;
	if (read(fd, &b, 1) != 1)
		return;
	pthread_join(f->thread, NULL);
	f->started = 0;
	gc->fetch = NULL;
	TAILQ_FOREACH(a, &gc->assignments, entry)
		if (strcmp(a->name, f->name) == 0 && strcmp(a->content_hash,
		    f->hash) == 0 && a->pkg == GC_PKG_FETCHING)
			break;
	if (a == NULL) {
		/* Removed or changed meanwhile: nothing of it stays. */
		if (f->ok && unpack_remove_tree(gc->pkg_fd, f->dir, err,
		    sizeof(err)) == -1)
			log_warnx("%s", err);
	} else if (f->ok) {
		free(a->config_name);
		free(a->config_version);
		a->config_name = f->config_name;
		a->config_version = f->config_version;
		f->config_name = f->config_version = NULL;
		a->pkg = GC_PKG_READY;
		a->due.tv_sec = 0;
		log_info("assignment %s: package %s %s verified (signed by %s) "
		    "and unpacked", a->name, a->config_name, a->config_version ?
		    a->config_version : "", f->publisher);
		gc_refused_forget(gc, a);
	} else {
		snprintf(a->pkg_error, sizeof(a->pkg_error), "%.500s", f->err);
		a->pkg = GC_PKG_REFUSED;
		a->due.tv_sec = 0;
		log_warnx("assignment %s: package refused: %s", a->name,
		    a->pkg_error);
		/* Not the way to it (the network, our CA file): the next
		 * list tries again. */
		if (f->refused)
			gc_refused_add(gc, a, a->pkg_error);
	}
	gc_fetch_free(f);
	gc_assign_save(gc);
	gc_package_fetch_next(gc);
	gc_eval_schedule(gc);
}

/* Starts the next package that is wanted, one at a time, in order. */
void
gc_package_fetch_next(struct gc *gc)
{
	struct gc_assignment	*a;
	struct gc_fetch		*f;
	int			 rc;

	if (gc->fetch != NULL || gc->disabled[0] != '\0' || gc->machine == NULL)
		return;
	TAILQ_FOREACH(a, &gc->assignments, entry)
		if (a->pkg == GC_PKG_NONE)
			break;
	if (a == NULL)
		return;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return;
	f->gc = gc;
	f->pkg_fd = gc->pkg_fd;
	f->done[0] = f->done[1] = -1;
	atomic_init(&f->cancel, 0);
	snprintf(f->name, sizeof(f->name), "%s", a->name);
	snprintf(f->hash, sizeof(f->hash), "%s", a->content_hash);
	snprintf(f->dir, sizeof(f->dir), "%s", a->dir);
	snprintf(f->zip, sizeof(f->zip), "%s.zip", a->dir);
	if ((f->url = strdup(a->content_uri)) == NULL ||
	    asprintf(&f->sig_url, "%s.p7s", a->content_uri) == -1 ||
	    (f->proxy = strdup(gc->settings.proxy)) == NULL ||
	    (f->ca_file = strdup(gc->machine->ca_file)) == NULL ||
	    (f->publisher = strdup(gc->settings.publisher)) == NULL ||
	    (a->version != NULL && (f->version = strdup(a->version)) == NULL) ||
	    (f->packages_ca = strdup(gc->settings.packages_ca)) == NULL ||
	    pipe2(f->done, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (f->done_ev = event_new(gc->base, f->done[0], EV_READ | EV_PERSIST,
	    gc_on_fetched, f)) == NULL || event_add(f->done_ev, NULL) == -1) {
		log_warnx("assignment %s: cannot start its download", a->name);
		gc_fetch_free(f);
		return;
	}
	if ((rc = pthread_create(&f->thread, NULL, gc_fetch_run, f)) != 0) {
		log_warnx("assignment %s: cannot start its download: %s",
		    a->name, strerror(rc));
		gc_fetch_free(f);
		return;
	}
	f->started = 1;
	a->pkg = GC_PKG_FETCHING;
	a->pkg_error[0] = '\0';
	gc->fetch = f;
	log_debug("assignment %s: downloading %s", a->name, a->content_uri);
}

/* At exit: the download under way stops between attempts. */
void
gc_package_stop(struct gc *gc)
{
	gc_fetch_free(gc->fetch);
	gc->fetch = NULL;
}
