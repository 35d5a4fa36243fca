/* cloudsim.c -- the local stand-in for Azure: flags, the commands (pki, machine-cert, publisher-cert, ext-pack, pkg-sign), start-up (gateway, echo, control plane, package store), signals and shutdown. */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "addr.h"
#include "cloudsim.h"
#include "control.h"
#include "daemon.h"
#include "echo.h"
#include "extstore.h"
#include "gateway.h"
#include "gcpack.h"
#include "guestconfig.h"
#include "log.h"
#include "notify.h"
#include "operator.h"
#include "packages.h"
#include "pki.h"
#include "pkgsign.h"
#include "registry.h"
#include "sessions.h"
#include "simconf.h"

#define CLOUDSIM_STATE_FILE	"control.json"
#define CLOUDSIM_EXTENSIONS_FILE "extensions.json"
#define CLOUDSIM_PACKAGES_DIR	"packages"	/* under the state dir, unless packages.dir */


static void
usage(void)
{
	fprintf(stderr,
	    "usage: cloudsim [-dnv] [--config-dir DIR] [--state-dir DIR]\n"
	    "       cloudsim pki [--force] DIR\n"
	    "       cloudsim machine-cert DIR NAME\n"
	    "       cloudsim publisher-cert DIR NAME\n"
	    "       cloudsim ext-pack HANDLER_DIR --publisher P --type T --version V\n"
	    "                -o OUTDIR [--pki DIR]\n"
	    "       cloudsim pkg-sign FILE --publisher P --type T --version V\n"
	    "                [--kind extension|guestconfiguration] [--pki DIR]\n"
	    "       cloudsim remote MACHINE PORT [--operator URL]\n"
	    "  -d  stay in the foreground and log to stderr\n"
	    "  -n  check the configuration (and the PKI it names) and exit\n"
	    "  -v  log debug messages\n"
	    "  pki           create the demo CA, gateway and service certificates in DIR\n"
	    "  machine-cert  issue DIR/NAME.crt and DIR/NAME.key, a machine's client certificate\n"
	    "  publisher-cert  issue DIR/publishers/NAME.crt and .key (code signing)\n"
	    "  ext-pack      zip, sign and catalog an extension handler into OUTDIR\n"
	    "  gc-pack       zip, sign and catalog a guest configuration (see cloudsim gc-pack)\n"
	    "  pkg-sign      sign FILE as the package named (FILE.p7s); --name is --type's\n"
	    "                synonym, for a guest configuration\n"
	    "  remote        stdin and stdout joined to a session to MACHINE's PORT\n");
	exit(2);
}

static int
cmd_pki(int argc, char *argv[])
{
	const char	*dir = NULL;
	char		 err[512];
	int		 force = 0, kept, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (argv[i][0] == '-' || dir != NULL)
			usage();
		else
			dir = argv[i];
	}
	if (dir == NULL)
		usage();
	if (pki_create(dir, force, &kept, err, sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim pki: %s\n", err);
		return 1;
	}
	if (kept)
		printf("cloudsim pki: %s/ca.crt exists: kept the CA (--force replaces "
		    "it); gateway, services, package-signing and %s certificates "
		    "are in place\n", dir, PKI_SAMPLE_PUBLISHER);
	else
		printf("cloudsim pki: created %s: ca.crt, ca.key, gateway.crt/.key "
		    "(%s, 127.0.0.1), services.crt/.key (*.%s), %s.crt/.key "
		    "(package signing), %s/%s.crt/.key\n", dir,
		    PKI_GATEWAY_NAME, PKI_SERVICES_DOMAIN, PKI_PKGSIGN_CA,
		    PKI_PUBLISHERS, PKI_SAMPLE_PUBLISHER);
	return 0;
}

static int
cmd_machine_cert(int argc, char *argv[])
{
	char	err[512];

	if (argc != 3)
		usage();
	if (pki_issue_machine(argv[1], argv[2], err, sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim machine-cert: %s\n", err);
		return 1;
	}
	printf("cloudsim machine-cert: issued %s/%s.crt and %s/%s.key (CN=%s, "
	    "clientAuth, %d days)\n", argv[1], argv[2], argv[1], argv[2], argv[2],
	    PKI_MACHINE_DAYS);
	return 0;
}

static int
cmd_publisher_cert(int argc, char *argv[])
{
	X509		*cert;
	EVP_PKEY	*key;
	char		 err[512];

	if (argc != 3)
		usage();
	if (pki_publisher(argv[1], argv[2], 1, &cert, &key, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim publisher-cert: %s\n", err);
		return 1;
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	printf("cloudsim publisher-cert: issued %s/%s/%s.crt and .key (CN=%s, "
	    "codeSigning, from %s/%s.crt)\n", argv[1], PKI_PUBLISHERS, argv[2],
	    argv[2], argv[1], PKI_PKGSIGN_CA);
	return 0;
}

const char *
cloudsim_pki_dir(const char *given, const char *config_dir, char *buf,
    size_t len)
{
	if (given != NULL)
		return given;
	snprintf(buf, len, "%s/pki",
	    daemon_dir(config_dir, "ARC_CONFIG_DIR", ARC_DIR_CONFIG));
	return buf;
}

/* ext-pack: OUTDIR/P.T-V.zip, its .p7s and the catalog entry P.T-V.json. */
static int
cmd_ext_pack(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "publisher", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 't' },
		{ "version", required_argument, NULL, 'V' },
		{ "output", required_argument, NULL, 'o' },
		{ "pki", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	struct pkgsign_ext	 ext = { NULL, NULL, NULL, NULL, NULL, NULL };
	struct pkgsign_file	 zip;
	char			 pki_default[PATH_MAX], manifest[PATH_MAX];
	char			 err[512];
	int			 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': ext.publisher = optarg; break;
		case 't': ext.type = optarg; break;
		case 'V': ext.version = optarg; break;
		case 'o': ext.outdir = optarg; break;
		case 'k': ext.pki_dir = optarg; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || ext.publisher == NULL || ext.type == NULL ||
	    ext.version == NULL || ext.outdir == NULL)
		usage();
	ext.src = argv[optind];
	ext.pki_dir = cloudsim_pki_dir(ext.pki_dir, NULL, pki_default,
	    sizeof(pki_default));
	snprintf(manifest, sizeof(manifest), "%s/HandlerManifest.json", ext.src);
	if (access(manifest, F_OK) == -1)
		fprintf(stderr, "cloudsim ext-pack: warning: %s: %s (extension "
		    "managers refuse a handler without it)\n", manifest,
		    strerror(errno));
	if (pkgsign_extension(&ext, &zip, err, sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim ext-pack: %s\n", err);
		return 1;
	}
	printf("cloudsim ext-pack: %s/%s.%s-%s.zip (%llu bytes, sha256 %s), "
	    ".zip.p7s (signed by %s), .json (the catalog entry)\n", ext.outdir,
	    ext.publisher, ext.type, ext.version, zip.size, zip.sha256,
	    ext.publisher);
	return 0;
}

/* pkg-sign: FILE.p7s, the publisher's signature of FILE as the package
 * named (a zip made by hand, or the store's own after a change). */
static int
cmd_pkg_sign(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "kind", required_argument, NULL, 'K' },
		{ "publisher", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 't' },
		{ "version", required_argument, NULL, 'V' },
		{ "pki", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	struct pkg_statement	 id;
	const char		*kind = "extension", *publisher = NULL;
	const char		*name = NULL, *version = NULL, *pki = NULL;
	const char		*file, *base;
	char			 pki_default[PATH_MAX], dir[PATH_MAX];
	char			 sig[NAME_MAX + 1], err[512];
	int			 ch, dirfd;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'K': kind = optarg; break;
		case 'p': publisher = optarg; break;
		case 't': name = optarg; break;
		case 'V': version = optarg; break;
		case 'k': pki = optarg; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || publisher == NULL || name == NULL ||
	    version == NULL)
		usage();
	memset(&id, 0, sizeof(id));
	if (pkgstatement_kind_parse(kind, &id.kind) == -1) {
		fprintf(stderr, "cloudsim pkg-sign: --kind: \"%s\" is not "
		    "extension or guestconfiguration\n", kind);
		return 2;
	}
	snprintf(id.publisher, sizeof(id.publisher), "%s", publisher);
	snprintf(id.name, sizeof(id.name), "%s", name);
	snprintf(id.version, sizeof(id.version), "%s", version);
	pki = cloudsim_pki_dir(pki, NULL, pki_default, sizeof(pki_default));
	file = argv[optind];
	base = strrchr(file, '/') != NULL ? strrchr(file, '/') + 1 : file;
	snprintf(dir, sizeof(dir), "%.*s", (int)(base - file), file);
	if (snprintf(sig, sizeof(sig), "%s.p7s", base) >= (int)sizeof(sig)) {
		fprintf(stderr, "cloudsim pkg-sign: %s: name too long\n", file);
		return 1;
	}
	if ((dirfd = open(dir[0] != '\0' ? dir : ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		fprintf(stderr, "cloudsim pkg-sign: %s: %s\n", dir,
		    strerror(errno));
		return 1;
	}
	if (pkgsign_sign(pki, &id, dirfd, base, sig, err, sizeof(err)) == -1) {
		fprintf(stderr, "cloudsim pkg-sign: %s\n", err);
		close(dirfd);
		return 1;
	}
	close(dirfd);
	printf("cloudsim pkg-sign: %s.p7s: %s signed as %s %s %s %s\n", file,
	    publisher, kind, pkgstatement_name_what(id.kind), name, version);
	return 0;
}

/* The commands, before the daemon's flags: argv[1] names one. */
static const struct {
	const char	*name;
	int		(*fn)(int, char *[]);
} cloudsim_commands[] = {
	{ "pki", cmd_pki },
	{ "machine-cert", cmd_machine_cert },
	{ "publisher-cert", cmd_publisher_cert },
	{ "ext-pack", cmd_ext_pack },
	{ "gc-pack", gcpack_main },
	{ "pkg-sign", cmd_pkg_sign },
	{ "remote", sessions_remote_main },
	{ NULL, NULL }
};

/* -n: the file parses, and the certificates and keys it names load. */
static int
check_config(struct cloudsim *cs)
{
	struct notify_conf	 nc;
	SSL_CTX			*ctx;
	char			 err[512];

	if ((ctx = gateway_tls(cs->cfg, err, sizeof(err))) == NULL)
		goto fail;
	SSL_CTX_free(ctx);
	if (cs->cfg->has_echo) {
		if ((ctx = echo_tls(cs->cfg, err, sizeof(err))) == NULL)
			goto fail;
		SSL_CTX_free(ctx);
	}
	if (cs->cfg->control.has_listen &&
	    control_check(cs->cfg, err, sizeof(err)) == -1)
		goto fail;
	if (cs->cfg->packages.has_listen &&
	    packages_check(cs->cfg, err, sizeof(err)) == -1)
		goto fail;
	if (notify_conf_load(cs->cfg, &nc, err, sizeof(err)) == -1)
		goto fail;
	printf("cloudsim: %s: configuration OK\n", cs->cfg->path);
	return 0;
 fail:
	fprintf(stderr, "cloudsim: %s (pki_dir %s; create it with: cloudsim pki "
	    "%s)\n", err, cs->cfg->pki_dir, cs->cfg->pki_dir);
	return 1;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct cloudsim	*cs = arg;
	struct timeval	 stop_grace = { 0, 200 * 1000 };

	(void)what;
	if (sig == SIGHUP) {
		log_warnx("SIGHUP: cloudsim does not reload; restart it to read %s",
		    cs->cfg->path);
		return;
	}
	log_info("%s: stopping", strsignal(sig));
	/* HTTP/2 clients get a GOAWAY; the loop runs a moment longer to send it. */
	gateway_stop(cs->gateway);
	control_stop(cs->control);
	operator_api_stop(cs->operator_api);
	packages_stop(cs->packages);
	notify_service_stop(cs->notify);
	sessions_stop(cs->sessions);
	event_base_loopexit(cs->base, &stop_grace);
}

static void
cloudsim_free(struct cloudsim *cs)
{
	packages_free(cs->packages);
	operator_api_free(cs->operator_api);
	sessions_free(cs->sessions);
	notify_service_free(cs->notify);
	control_free(cs->control);
	echo_free(cs->echo);
	gateway_free(cs->gateway);
	if (cs->sig_term != NULL)
		event_free(cs->sig_term);
	if (cs->sig_int != NULL)
		event_free(cs->sig_int);
	if (cs->sig_hup != NULL)
		event_free(cs->sig_hup);
	if (cs->base != NULL)
		event_base_free(cs->base);
	registry_free(cs->registry);
	extstore_free(cs->extensions);
	guestconfig_free(cs->guestconfig);
	free(cs->packages_dir);
	simconf_free(cs->cfg);
}

/* The package store's directory, made (0755) when missing. */
static void
cloudsim_packages_dir(struct cloudsim *cs)
{
	char	path[PATH_MAX];

	if (cs->cfg->packages.dir != NULL)
		snprintf(path, sizeof(path), "%s", cs->cfg->packages.dir);
	else if (snprintf(path, sizeof(path), "%s/%s", cs->state_dir,
	    CLOUDSIM_PACKAGES_DIR) >= (int)sizeof(path))
		fatalx("%s: path too long", cs->state_dir);
	if (mkdir(path, 0755) == -1 && errno != EEXIST)
		fatal("packages dir %s", path);
	if ((cs->packages_dir = strdup(path)) == NULL)
		fatal("strdup");
}

static void
cloudsim_start(struct cloudsim *cs)
{
	struct notify_conf	nc;
	char	err[512], path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", cs->state_dir,
	    CLOUDSIM_STATE_FILE) >= (int)sizeof(path))
		fatalx("%s: path too long", cs->state_dir);
	/* Better now than a 500 at the first registration. */
	if ((cs->cfg->control.has_listen || cs->cfg->control.has_operator) &&
	    access(cs->state_dir, W_OK | X_OK) == -1)
		fatal("state dir %s (the control plane keeps %s there; "
		    "--state-dir DIR)", cs->state_dir, CLOUDSIM_STATE_FILE);
	if ((cs->registry = registry_load(path, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (snprintf(path, sizeof(path), "%s/%s", cs->state_dir,
	    CLOUDSIM_EXTENSIONS_FILE) >= (int)sizeof(path))
		fatalx("%s: path too long", cs->state_dir);
	if ((cs->extensions = extstore_load(path, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((cs->guestconfig = guestconfig_load(cs->state_dir, cs->registry, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	cloudsim_packages_dir(cs);
	if ((cs->base = event_base_new()) == NULL)
		fatalx("cannot create an event loop");
	if ((cs->gateway = gateway_new(cs->base, cs->cfg, cs->registry, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->cfg->has_echo &&
	    (cs->echo = echo_new(cs->base, cs->cfg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->cfg->control.has_listen &&
	    (cs->control = control_new(cs, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->cfg->control.has_operator &&
	    (cs->operator_api = operator_api_new(cs, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->cfg->packages.has_listen && (cs->packages = packages_new(cs->base,
	    cs->cfg, cs->packages_dir, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	/* Notifications and remote sessions (notify.c, sessions.c). */
	if (notify_conf_load(cs->cfg, &nc, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (nc.has_listen && (cs->notify = notify_service_new(cs->base, cs->cfg,
	    &nc, cs->registry, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (cs->notify != NULL && nc.has_relay && (cs->sessions = sessions_new(
	    cs->base, cs->cfg, &nc, cs->registry, cs->notify, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	cs->sig_term = evsignal_new(cs->base, SIGTERM, on_signal, cs);
	cs->sig_int = evsignal_new(cs->base, SIGINT, on_signal, cs);
	cs->sig_hup = evsignal_new(cs->base, SIGHUP, on_signal, cs);
	if (cs->sig_term == NULL || cs->sig_int == NULL || cs->sig_hup == NULL ||
	    evsignal_add(cs->sig_term, NULL) == -1 ||
	    evsignal_add(cs->sig_int, NULL) == -1 ||
	    evsignal_add(cs->sig_hup, NULL) == -1)
		fatalx("cannot install signal handlers");
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config-dir", required_argument, NULL, 'C' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	struct cloudsim	 cs;
	const char	*config_dir = NULL, *state_dir = NULL;
	char		 err[512], gw_addr[64], echo_addr[64] = "off";
	char		 control_addr[64] = "off", operator_addr[64] = "off";
	char		 packages_addr[64] = "off";
	int		 ch, foreground = 0, check = 0, verbose = 0, rc, i;

	for (i = 0; argc >= 2 && cloudsim_commands[i].name != NULL; i++)
		if (strcmp(argv[1], cloudsim_commands[i].name) == 0)
			return cloudsim_commands[i].fn(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "dnv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': foreground = 1; break;
		case 'n': check = 1; break;
		case 'v': verbose = 1; break;
		case 'C': config_dir = optarg; break;
		case 'S': state_dir = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	memset(&cs, 0, sizeof(cs));
	cs.config_dir = daemon_dir(config_dir, "ARC_CONFIG_DIR", ARC_DIR_CONFIG);
	cs.state_dir = daemon_dir(state_dir, "ARC_STATE_DIR", ARC_DIR_STATE);
	log_init("cloudsim", foreground || check, verbose ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_INFO);
	if ((cs.cfg = simconf_load(cs.config_dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "cloudsim: %s\n", err);
		return 1;
	}
	if (check) {
		rc = check_config(&cs);
		simconf_free(cs.cfg);
		return rc;
	}
	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	signal(SIGPIPE, SIG_IGN);
	cloudsim_start(&cs);
	addr_format((struct sockaddr *)&cs.cfg->gateway_listen, gw_addr,
	    sizeof(gw_addr));
	if (cs.echo != NULL)
		addr_format((struct sockaddr *)&cs.cfg->echo_listen,
		    echo_addr, sizeof(echo_addr));
	if (cs.control != NULL)
		addr_format((struct sockaddr *)&cs.cfg->control.listen,
		    control_addr, sizeof(control_addr));
	if (cs.operator_api != NULL)
		addr_format((struct sockaddr *)
		    &cs.cfg->control.operator_listen, operator_addr,
		    sizeof(operator_addr));
	if (cs.packages != NULL)
		addr_format((struct sockaddr *)&cs.cfg->packages.listen,
		    packages_addr, sizeof(packages_addr));
	log_info("gateway on %s, echo on %s, control plane on %s, operator API "
	    "on %s, packages on %s; config %s, pki %s, state %s, packages %s",
	    gw_addr, echo_addr, control_addr, operator_addr, packages_addr,
	    cs.cfg->path, cs.cfg->pki_dir, cs.state_dir, cs.packages_dir);
	event_base_dispatch(cs.base);
	cloudsim_free(&cs);
	log_info("stopped");
	return 0;
}
