/* goalstate.c -- the one hook every change of a machine's goal state goes through, so that the machine can be told at once (the notification service). */
#include "cloudsim.h"
#include "goalstate.h"
#include "log.h"
#include "notify.h"

void
goalstate_changed(struct cloudsim *cs, const char *machine, const char *topic,
    unsigned long long seq)
{
	log_debug("goal state of %s: %s at seq %llu", machine, topic, seq);
	/* The machine's channel, if open; else it finds out at its next poll. */
	notify_goal_state(cs->notify, machine, topic, (long long)seq);
}
