/* goalstate.h -- the one hook every change of a machine's goal state goes through, so that the machine can be told at once (the notification service). */
#ifndef GOALSTATE_H
#define GOALSTATE_H

struct cloudsim;

#define GOALSTATE_EXTENSIONS		"extensions"
#define GOALSTATE_GUEST_CONFIGURATION	"guestConfiguration"

/*
 * The goal state of machine for topic (GOALSTATE_*) is now seq, saved.
 * Called after every operator change (PUT, DELETE) once it is on disk.
 */
void	goalstate_changed(struct cloudsim *, const char *machine,
	    const char *topic, unsigned long long seq);

#endif
