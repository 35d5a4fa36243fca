/* heartbeat.c -- tells the cloud this machine is alive, every interval, and keeps himds.json (status, last heartbeat, last error). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "atomicfile.h"
#include "cloud.h"
#include "heartbeat.h"
#include "himds.h"
#include "log.h"
#include "machine.h"

#define HEARTBEAT_RETRY_MAX	30	/* seconds to the retry after a failure */

struct himds_heartbeat {
	struct himds	*h;
	struct event	*timer;
	int		 in_flight;	/* a heartbeat of this generation is out */
	unsigned	 gen;		/* the identity it was sent with */
};

static const char *const status_names[] = {
	[HIMDS_DISCONNECTED] = "Disconnected",
	[HIMDS_CONNECTED] = "Connected",
	[HIMDS_EXPIRED] = "Expired",
};

const char *
himds_status_name(int status)
{
	return status_names[status];
}

void
himds_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static time_t
heartbeat_parse_time(const char *s)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

long long
himds_heartbeat_interval(const struct himds *h)
{
	if (h->settings.heartbeat_interval_seconds > 0)
		return h->settings.heartbeat_interval_seconds;
	if (h->cloud_interval > 0)
		return h->cloud_interval;
	if (h->machine != NULL && h->machine->heartbeat_interval_seconds > 0)
		return h->machine->heartbeat_interval_seconds;
	return HIMDS_DEFAULT_INTERVAL;
}

/* himds.json: what azcmagent show reports. */
static void
heartbeat_write_status(struct himds *h)
{
	json_t	*doc;
	char	 when[32], err[512], *text, *line;

	himds_rfc3339(h->last_heartbeat, when, sizeof(when));
	doc = json_pack("{s:s,s:o,s:o}", "status", himds_status_name(h->status),
	    "lastHeartbeat", h->last_heartbeat ? json_string(when) : json_null(),
	    "lastError", h->last_error[0] ? json_string(h->last_error) :
	    json_null());
	if (doc == NULL || (text = json_dumps(doc, JSON_INDENT(2))) == NULL) {
		json_decref(doc);
		log_warnx("out of memory");
		return;
	}
	json_decref(doc);
	if (asprintf(&line, "%s\n", text) == -1) {
		free(text);
		log_warnx("out of memory");
		return;
	}
	if (atomicfile_writeat(h->own_fd, "himds.json", line, strlen(line), 0644,
	    ATOMICFILE_KEEP_UID, ATOMICFILE_KEEP_GID, 0, err, sizeof(err)) == -1)
		log_warnx("%s/%s", h->own_dir, err);
	free(line);
	free(text);
}

/* quiet: the reason was logged already. */
static void
heartbeat_set(struct himds *h, enum himds_status status, const char *error,
    int quiet)
{
	int	changed = status != h->status || strcmp(error, h->last_error) != 0;

	if (changed && status == HIMDS_CONNECTED)
		log_info("connected: the cloud answers heartbeats");
	else if (changed && !quiet)
		log_warnx("%s: %s", himds_status_name(status), error);
	h->status = status;
	snprintf(h->last_error, sizeof(h->last_error), "%s", error);
	heartbeat_write_status(h);
}

static void
heartbeat_arm(struct himds_heartbeat *hb, long long seconds)
{
	struct timeval	tv = { .tv_sec = seconds, .tv_usec = 0 };

	evtimer_add(hb->timer, &tv);
}

static void
heartbeat_answer(struct himds *h, long status, json_t *answer,
    const char *error, void *arg)
{
	struct himds_heartbeat	*hb = arg;
	json_t			*iv;
	long long		 next;

	if (hb->gen != h->machine_gen)
		return;			/* sent with an identity now gone */
	hb->in_flight = 0;
	next = himds_heartbeat_interval(h);
	if (status == 200) {
		iv = json_object_get(answer, "heartbeatIntervalSeconds");
		if (json_is_integer(iv) && json_integer_value(iv) > 0 &&
		    json_integer_value(iv) <= 86400)
			h->cloud_interval = json_integer_value(iv);
		h->last_heartbeat = time(NULL);
		heartbeat_set(h, HIMDS_CONNECTED, "", 0);
		next = himds_heartbeat_interval(h);
	} else {
		heartbeat_set(h, HIMDS_DISCONNECTED, error, 0);
		if (next > HEARTBEAT_RETRY_MAX)
			next = HEARTBEAT_RETRY_MAX;
	}
	log_debug("heartbeat: HTTP %ld; next in %llds", status, next);
	heartbeat_arm(hb, next);
}

static void
heartbeat_send(struct himds_heartbeat *hb)
{
	struct himds	*h = hb->h;
	json_t		*body;
	char		 now[32];
	time_t		 t = time(NULL);

	if (h->machine == NULL)
		return;
	if (t >= h->machine->not_after) {
		heartbeat_set(h, HIMDS_EXPIRED, "the machine certificate expired; "
		    "connect the machine again (azcmagent connect)", 0);
		heartbeat_arm(hb, himds_heartbeat_interval(h));
		return;
	}
	if (hb->in_flight)
		return;
	himds_rfc3339(t, now, sizeof(now));
	body = json_pack("{s:s,s:s,s:s}", "status", "Connected", "agentVersion",
	    HIMDS_AGENT_VERSION, "time", now);
	hb->gen = h->machine_gen;
	if (body == NULL || himds_cloud_post(h->cloud, "heartbeat", body,
	    heartbeat_answer, hb) == -1) {
		heartbeat_set(h, HIMDS_DISCONNECTED, "cannot start the heartbeat",
		    0);
		heartbeat_arm(hb, HEARTBEAT_RETRY_MAX);
	} else
		hb->in_flight = 1;
	json_decref(body);
}

static void
heartbeat_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	heartbeat_send(arg);
}

/* The last heartbeat of an earlier run, so that a restart keeps it. */
static void
heartbeat_read_status(struct himds *h)
{
	json_t	*doc;
	char	 path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/" ARC_FILE_HIMDS_JSON, h->own_dir);
	if ((doc = json_load_file(path, 0, NULL)) == NULL)
		return;
	h->last_heartbeat = heartbeat_parse_time(json_string_value(
	    json_object_get(doc, "lastHeartbeat")));
	json_decref(doc);
}

struct himds_heartbeat *
himds_heartbeat_new(struct himds *h)
{
	struct himds_heartbeat	*hb;

	if ((hb = calloc(1, sizeof(*hb))) == NULL)
		return NULL;
	hb->h = h;
	if ((hb->timer = evtimer_new(h->base, heartbeat_tick, hb)) == NULL) {
		free(hb);
		return NULL;
	}
	heartbeat_read_status(h);
	return hb;
}

void
himds_heartbeat_free(struct himds_heartbeat *hb)
{
	if (hb == NULL)
		return;
	event_free(hb->timer);
	free(hb);
}

void
himds_heartbeat_restart(struct himds_heartbeat *hb)
{
	struct himds	*h = hb->h;

	evtimer_del(hb->timer);
	hb->in_flight = 0;
	h->cloud_interval = 0;
	if (h->machine == NULL) {
		heartbeat_set(h, HIMDS_DISCONNECTED, h->machine_error, 1);
		return;
	}
	heartbeat_send(hb);
}
