/* cmd_extension.c -- azcmagent extension list | remove NAME: what extmgr has installed, from its state, and a local removal handed to extmgr. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "atomicfile.h"
#include "azcmagent.h"
#include "safedir.h"
#include "state.h"

#define EXT_STATE	"extmgr/state.json"	/* in the state dir: extmgr's */
#define EXT_REQ_DIR	"extmgr/requests"	/* a file per removal asked */
#define EXT_WAIT_MS	120000			/* for extmgr to remove one */

static json_t *
ext_state(struct azcm *a, char *err, size_t errlen)
{
	json_t		*doc;
	char		 path[4096], *text;
	size_t		 len;

	snprintf(path, sizeof(path), "%s/" EXT_STATE, a->state_dir);
	if ((text = atomicfile_read(path, 4 << 20, &len, err, errlen)) == NULL) {
		if (errno == ENOENT)
			return json_pack("{s:{}}", "extensions");
		return NULL;
	}
	doc = json_loadb(text, len, 0, NULL);
	free(text);
	if (doc == NULL)
		snprintf(err, errlen, "extmgr's " EXT_STATE " is not JSON");
	return doc;
}

static json_t *
ext_row(const char *name, json_t *rec)
{
	json_t	*rep = json_object_get(rec, "report");

	return json_pack("{s:s,s:s?,s:s?,s:o,s:s?,s:O?}", "name", name,
	    "publisher", azcm_jstr(rec, "publisher"), "type",
	    azcm_jstr(rec, "type"), "version", azcm_jstr(rec, "version") ?
	    json_string(azcm_jstr(rec, "version")) : json_null(),
	    "handlerState", azcm_jstr(rec, "handlerState"), "lastStatus", rep);
}

/* A cell of the table: a handler wrote the message, from settings the
 * cloud sent (azcm_printable). */
#define ext_cell(s, buf, len)	azcm_printable((s), (buf), (len))

static int
ext_list(struct azcm *a)
{
	json_t		*doc, *rec, *out, *rep;
	const char	*name, *msg;
	char		 cells[6][256], mbuf[4096];
	char		 err[512], what[64];

	if ((doc = ext_state(a, err, sizeof(err))) == NULL)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	if (a->json) {
		out = json_array();
		json_object_foreach(json_object_get(doc, "extensions"), name, rec)
			json_array_append_new(out, ext_row(name, rec));
		json_decref(doc);
		azcm_print_json(out);
		return AZCM_OK;
	}
	printf("%-24s %-40s %-10s %-13s %s\n", "NAME", "TYPE", "VERSION",
	    "STATE", "LAST STATUS");
	json_object_foreach(json_object_get(doc, "extensions"), name, rec) {
		rep = json_object_get(rec, "report");
		snprintf(what, sizeof(what), "%s.%s", azcm_jstr(rec, "publisher") ?
		    azcm_jstr(rec, "publisher") : "?", azcm_jstr(rec, "type") ?
		    azcm_jstr(rec, "type") : "?");
		msg = ext_cell(azcm_jstr(rep, "message"), mbuf, sizeof(mbuf));
		printf("%-24s %-40s %-10s %-13s %s %s%s%s\n",
		    ext_cell(name, cells[0], sizeof(cells[0])),
		    ext_cell(what, cells[1], sizeof(cells[1])),
		    azcm_jstr(rec, "version") ? ext_cell(azcm_jstr(rec,
		    "version"), cells[2], sizeof(cells[2])) : "-",
		    azcm_jstr(rec, "handlerState") ? ext_cell(azcm_jstr(rec,
		    "handlerState"), cells[3], sizeof(cells[3])) : "-",
		    azcm_jstr(rep, "operation") ? ext_cell(azcm_jstr(rep,
		    "operation"), cells[4], sizeof(cells[4])) : "-",
		    azcm_jstr(rep, "status") ? ext_cell(azcm_jstr(rep, "status"),
		    cells[5], sizeof(cells[5])) : "",
		    msg != NULL && msg[0] != '\0' ? ": " : "",
		    msg != NULL ? msg : "");
	}
	json_decref(doc);
	return AZCM_OK;
}

/* Is name installed (a version in extmgr's state)?  -1 when unreadable. */
static int
ext_installed(struct azcm *a, const char *name, char *err, size_t errlen)
{
	json_t	*doc, *rec;
	int	 rc;

	if ((doc = ext_state(a, err, errlen)) == NULL)
		return -1;
	rec = json_object_get(json_object_get(doc, "extensions"), name);
	rc = rec != NULL && azcm_jstr(rec, "version") != NULL;
	json_decref(doc);
	return rc;
}

/*
 * The request is a file requests/NAME in extmgr's state dir; extmgr, told
 * with SIGHUP, runs disable and uninstall, records that it was removed
 * here (so that the cloud's goal does not bring it back until the cloud
 * sends a new configuration) and deletes the file.
 */
static int
ext_remove(struct azcm *a, const char *name)
{
	struct timespec	ts = { 0, 200 * 1000000L };
	char		path[4096], err[512];
	long		pid, waited;
	int		dfd, fd, rc;

	if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0' ||
	    strlen(name) > 64)
		return azcm_fail(AZCM_EARGS, "\"%s\" is not an extension name",
		    name);
	if ((rc = ext_installed(a, name, err, sizeof(err))) == -1)
		return azcm_fail(geteuid() == 0 ? AZCM_EGENERIC : AZCM_ENOTADMIN,
		    "%s", err);
	if (rc == 0)
		return azcm_fail(AZCM_EARGS, "no extension %s is installed "
		    "(azcmagent extension list)", name);
	snprintf(path, sizeof(path), "%s/" EXT_REQ_DIR, a->state_dir);
	if ((dfd = safedir_open(path, err, sizeof(err))) == -1)
		return azcm_fail(AZCM_EGENERIC, "%s", err);
	fd = safedir_open_file(dfd, name, O_WRONLY | O_CREAT, 0600,
	    SAFEDIR_KEEP_UID, SAFEDIR_KEEP_GID, err, sizeof(err));
	close(dfd);
	if (fd == -1)
		return azcm_fail(AZCM_EGENERIC, "%s/%s", path, err);
	close(fd);
	if ((pid = state_daemon_pid(a->run_dir, "extmgr")) == -1 ||
	    kill((pid_t)pid, SIGHUP) == -1) {
		azcm_warn("extmgr is not running: %s is removed when it starts",
		    name);
		return AZCM_OK;
	}
	for (waited = 0; waited < EXT_WAIT_MS; waited += 200) {
		if ((rc = ext_installed(a, name, err, sizeof(err))) == 0) {
			if (!a->json)
				printf("%s removed\n", name);
			else
				azcm_print_json(json_pack("{s:s,s:s}", "name",
				    name, "status", "removed"));
			return AZCM_OK;
		}
		nanosleep(&ts, NULL);
	}
	return azcm_fail(AZCM_EGENERIC, "extmgr has not removed %s within %d s "
	    "(azcmagent extension list shows why)", name, EXT_WAIT_MS / 1000);
}

int
cmd_extension(struct azcm *a)
{
	if (a->npos == 1 && strcmp(a->pos[0], "list") == 0)
		return ext_list(a);
	if (a->npos == 2 && strcmp(a->pos[0], "remove") == 0)
		return ext_remove(a, a->pos[1]);
	return azcm_fail(AZCM_EARGS, "usage: azcmagent extension list [-j] | "
	    "remove NAME");
}
