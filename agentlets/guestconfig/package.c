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
	char		*packages_ca;
	int		 pkg_fd;		/* the loop's packages/ */
	pthread_t	 thread;
	int		 started;
	int		 done[2];		/* the thread's "finished" byte */
	struct event	*done_ev;
	atomic_int	 cancel;		/* SIGTERM: stop between attempts */
	/* The result. */
	int		 ok;
	char		 err[600];
	char		*config_name;
	char		*config_version;
};

static const char *
gc_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* metadata.json of the unpacked package: its name and version, and the
 * document <name>.json beside it.  0, or -1 with err. */
static int
gc_package_meta(int pkg_fd, const char *dir, char **name, char **version,
    char *err, size_t errlen)
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
		goto done;
	}
	req.url = f->sig_url;
	req.max_bytes = PKGVERIFY_SIG_MAX;
	if (download_small(&req, PKGVERIFY_SIG_MAX, &sig, &siglen, err,
	    sizeof(err)) == -1) {
		snprintf(f->err, sizeof(f->err), "signature: %s", err);
		goto done;
	}
	exp.publisher = f->publisher;
	exp.sha256 = f->hash;
	exp.size = 0;		/* the contract: what was downloaded */
	if (pkginstall_verified(f->pkg_fd, f->zip, f->packages_ca, &exp, sig,
	    siglen, f->pkg_fd, f->dir, 0700, &lim, &stage, err,
	    sizeof(err)) == -1) {
		snprintf(f->err, sizeof(f->err), "%s%s", stage ==
		    PKGINSTALL_CA ? "packages CA: " : stage ==
		    PKGINSTALL_UNPACK ? "unpack: " : "", err);
		goto done;
	}
	if (gc_package_meta(f->pkg_fd, f->dir, &f->config_name,
	    &f->config_version, f->err, sizeof(f->err)) == -1) {
		unpack_remove_tree(f->pkg_fd, f->dir, err, sizeof(err));
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
	free(f->packages_ca);
	free(f->config_name);
	free(f->config_version);
	free(f);
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
	} else {
		snprintf(a->pkg_error, sizeof(a->pkg_error), "%.500s", f->err);
		a->pkg = GC_PKG_REFUSED;
		a->due.tv_sec = 0;
		log_warnx("assignment %s: package refused: %s", a->name,
		    a->pkg_error);
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
