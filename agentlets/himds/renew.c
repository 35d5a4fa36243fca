/* renew.c -- renews the machine certificate at half its lifetime: a new key made here, a CSR to the cloud, both files replaced, arcproxy told. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "atomicfile.h"
#include "cloud.h"
#include "heartbeat.h"
#include "himds.h"
#include "identity.h"
#include "log.h"
#include "machine.h"
#include "renew.h"

#define RENEW_RETRY_MIN		5	/* seconds */
#define RENEW_RETRY_MAX		300
#define RENEW_ADMIN_TIMEOUT	5	/* seconds for arcproxy's answer */

struct himds_renew {
	struct himds			*h;
	struct event			*timer;
	EVP_PKEY			*key;	/* the new key while its CSR is out */
	unsigned			 gen;	/* the identity the CSR was sent with */
	struct evhttp_connection	*admin;	/* to arcproxy's admin API */
};

time_t
himds_renew_due(time_t not_before, time_t not_after)
{
	return not_before + (not_after - not_before) / 2;
}

static void
renew_arm(struct himds_renew *r, time_t seconds)
{
	struct timeval	tv = { .tv_sec = seconds > 0 ? seconds : 0, .tv_usec = 0 };

	evtimer_add(r->timer, &tv);
}

/* After a failure: soon, but well before the certificate runs out. */
static void
renew_retry(struct himds_renew *r)
{
	time_t	left = 0, wait;

	if (r->h->machine != NULL)
		left = r->h->machine->not_after - time(NULL);
	wait = left / 10;
	if (wait < RENEW_RETRY_MIN)
		wait = RENEW_RETRY_MIN;
	if (wait > RENEW_RETRY_MAX)
		wait = RENEW_RETRY_MAX;
	log_info("renewal: trying again in %llds", (long long)wait);
	renew_arm(r, wait);
}

static void
renew_told(struct evhttp_request *req, void *arg)
{
	(void)arg;
	if (req == NULL || evhttp_request_get_response_code(req) == 0)
		log_warnx("renewal: arcproxy's admin API did not answer; it "
		    "loads the new certificate when it starts or reloads");
	else if (evhttp_request_get_response_code(req) != 200)
		log_warnx("renewal: arcproxy refused to reload: HTTP %d %s",
		    evhttp_request_get_response_code(req),
		    evhttp_request_get_response_code_line(req));
	else
		log_info("renewal: arcproxy reloaded the machine identity");
}

/*
 * arcproxy presents the machine certificate to the gateway: it must load
 * the new one.  It runs as another user, so himds asks through its admin
 * API (POST /identity/reload, allowed to group arc), never with a signal:
 * himds keeps no capability.
 */
static void
renew_tell_arcproxy(struct himds_renew *r)
{
	const struct himds_settings	*s = &r->h->settings;
	struct evhttp_request		*req;
	char				 host[64], port[16];

	if (s->arcproxy_admin_len == 0)
		return;
	if (getnameinfo((const struct sockaddr *)&s->arcproxy_admin,
	    s->arcproxy_admin_len, host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	/* The last one is done (its answer came or timed out) by now. */
	if (r->admin != NULL)
		evhttp_connection_free(r->admin);
	if ((r->admin = evhttp_connection_base_new(r->h->base, NULL, host,
	    (unsigned short)atoi(port))) == NULL ||
	    (req = evhttp_request_new(renew_told, r)) == NULL) {
		log_warnx("renewal: out of memory; reload arcproxy by hand");
		return;
	}
	evhttp_connection_set_timeout(r->admin, RENEW_ADMIN_TIMEOUT);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
	    "localhost");
	if (evhttp_make_request(r->admin, req, EVHTTP_REQ_POST,
	    "/identity/reload") == -1)
		log_warnx("renewal: cannot ask arcproxy at %s:%s to reload",
		    host, port);
	else
		log_info("renewal: asking arcproxy (%s:%s) to reload", host, port);
}

static void
renew_answer(struct himds *h, long status, json_t *answer, const char *error,
    void *arg)
{
	struct himds_renew	*r = arg;
	EVP_PKEY		*key = r->key;
	const char		*pem;
	char			*key_pem = NULL, err[512], until[32];
	size_t			 key_len = 0;
	time_t			 nb, na;

	r->key = NULL;
	if (r->gen != h->machine_gen) {
		EVP_PKEY_free(key);	/* the identity changed meanwhile */
		return;
	}
	if (status != 200) {
		log_warnx("renewal refused: %s", error);
		goto fail;
	}
	pem = json_string_value(json_object_get(answer, "certificate"));
	if (pem == NULL || identity_cert_times(pem, &nb, &na, err,
	    sizeof(err)) == -1 || !identity_cert_matches(pem, key)) {
		log_warnx("renewal: the cloud's answer holds no certificate for "
		    "the new key");
		goto fail;
	}
	if ((key_pem = identity_key_pem(key, &key_len)) == NULL) {
		log_warnx("renewal: out of memory");
		goto fail;
	}
	if (himds_machine_install(h->own_dir, key_pem, key_len, pem,
	    strlen(pem), err, sizeof(err)) == -1) {
		log_warnx("renewal: %s", err);
		goto fail;
	}
	explicit_bzero(key_pem, key_len);
	free(key_pem);
	EVP_PKEY_free(key);
	himds_rfc3339(na, until, sizeof(until));
	log_info("renewal: new machine certificate, valid until %s", until);
	renew_tell_arcproxy(r);
	himds_identity_reload(h);
	return;
 fail:
	if (key_pem != NULL) {
		explicit_bzero(key_pem, key_len);
		free(key_pem);
	}
	EVP_PKEY_free(key);
	renew_retry(r);
}

static void
renew_start(evutil_socket_t fd, short what, void *arg)
{
	struct himds_renew	*r = arg;
	struct himds		*h = r->h;
	json_t			*body = NULL;
	char			*csr = NULL, err[512];

	(void)fd;
	(void)what;
	if (h->machine == NULL || r->key != NULL)
		return;
	if (time(NULL) >= h->machine->not_after) {
		log_warnx("renewal: the machine certificate expired; connect the "
		    "machine again");
		return;
	}
	log_info("renewal: half of the certificate's life is over; asking for "
	    "a new one");
	if ((r->key = identity_keygen(err, sizeof(err))) == NULL ||
	    (csr = identity_csr_pem(r->key, h->machine->name, err,
	    sizeof(err))) == NULL) {
		log_warnx("renewal: %s", err);
		goto fail;
	}
	r->gen = h->machine_gen;
	if ((body = json_pack("{s:s}", "csr", csr)) == NULL ||
	    himds_cloud_post(h->cloud, "certificate", body, renew_answer,
	    r) == -1) {
		log_warnx("renewal: cannot start the request");
		goto fail;
	}
	json_decref(body);
	free(csr);
	return;
 fail:
	json_decref(body);
	free(csr);
	EVP_PKEY_free(r->key);
	r->key = NULL;
	renew_retry(r);
}

struct himds_renew *
himds_renew_new(struct himds *h)
{
	struct himds_renew	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->h = h;
	if ((r->timer = evtimer_new(h->base, renew_start, r)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
himds_renew_free(struct himds_renew *r)
{
	if (r == NULL)
		return;
	event_free(r->timer);
	EVP_PKEY_free(r->key);
	if (r->admin != NULL)
		evhttp_connection_free(r->admin);
	free(r);
}

void
himds_renew_schedule(struct himds_renew *r)
{
	const struct himds_machine	*m = r->h->machine;
	time_t				 due;

	evtimer_del(r->timer);
	/* A CSR still out belongs to the old identity: its answer is dropped. */
	EVP_PKEY_free(r->key);
	r->key = NULL;
	if (m == NULL)
		return;
	due = himds_renew_due(m->not_before, m->not_after);
	log_debug("renewal due in %llds", (long long)(due - time(NULL)));
	renew_arm(r, due - time(NULL));
}
