/* notify_msg_test.c -- the notification channel's messages and the local controls on a session: what is taken and what is refused. */
#include <stdlib.h>
#include <string.h>

#include "agentconf.h"
#include "msg.h"
#include "unit.h"

static int
parse(const char *text, struct notify_msg *m)
{
	char	err[256];

	return notify_msg_parse(text, strlen(text), m, err, sizeof(err));
}

static void
test_goal_state(void)
{
	struct notify_msg	m;

	CU_ASSERT_EQUAL(parse("{\"type\":\"goalState\",\"topic\":\"extensions\","
	    "\"seq\":42}", &m), 0);
	CU_ASSERT_EQUAL(m.type, NOTIFY_MSG_GOALSTATE);
	CU_ASSERT_STRING_EQUAL(m.topic, "extensions");
	CU_ASSERT_EQUAL(m.seq, 42);
	CU_ASSERT_EQUAL(parse("{\"type\":\"goalState\",\"topic\":"
	    "\"guestConfiguration\",\"seq\":0}", &m), 0);
	/* A topic is never a path: only the two names. */
	CU_ASSERT_EQUAL(parse("{\"type\":\"goalState\",\"topic\":\"../x\","
	    "\"seq\":1}", &m), -1);
	CU_ASSERT_EQUAL(parse("{\"type\":\"goalState\",\"topic\":\"extensions\","
	    "\"seq\":-1}", &m), -1);
	CU_ASSERT_EQUAL(parse("{\"type\":\"goalState\",\"topic\":\"extensions\","
	    "\"seq\":\"1\"}", &m), -1);
	CU_ASSERT_EQUAL(parse("{\"type\":\"goalState\",\"type\":\"session\"}",
	    &m), -1);
}

static void
test_session(void)
{
	struct notify_msg	m;

	CU_ASSERT_EQUAL(parse("{\"type\":\"session\",\"id\":\"ab-12\",\"port\":22,"
	    "\"relay\":\"relay.cloudsim.test:443\",\"token\":"
	    "\"0123456789abcdef0123\",\"requestedBy\":\"ann\\u0001\"}", &m), 0);
	CU_ASSERT_EQUAL(m.type, NOTIFY_MSG_SESSION);
	CU_ASSERT_STRING_EQUAL(m.id, "ab-12");
	CU_ASSERT_EQUAL(m.port, 22);
	CU_ASSERT_STRING_EQUAL(m.relay_host, "relay.cloudsim.test");
	CU_ASSERT_EQUAL(m.relay_port, 443);
	CU_ASSERT_STRING_EQUAL(m.requested_by, "ann_");
	CU_ASSERT_EQUAL(parse("{\"type\":\"session\",\"id\":\"a b\",\"port\":22,"
	    "\"relay\":\"r:443\",\"token\":\"0123456789abcdef\"}", &m), -1);
	CU_ASSERT_EQUAL(parse("{\"type\":\"session\",\"id\":\"a\",\"port\":0,"
	    "\"relay\":\"r:443\",\"token\":\"0123456789abcdef\"}", &m), -1);
	CU_ASSERT_EQUAL(parse("{\"type\":\"session\",\"id\":\"a\",\"port\":22,"
	    "\"relay\":\"r\",\"token\":\"0123456789abcdef\"}", &m), -1);
	CU_ASSERT_EQUAL(parse("{\"type\":\"session\",\"id\":\"a\",\"port\":22,"
	    "\"relay\":\"r:443\",\"token\":\"short\"}", &m), -1);
	CU_ASSERT_EQUAL(parse("{\"type\":\"session\",\"id\":\"a\",\"port\":22,"
	    "\"relay\":\"r:443\\r\\nX\",\"token\":\"0123456789abcdef\"}", &m), -1);
	/* Unknown types are ignored, not errors; garbage is an error. */
	CU_ASSERT_EQUAL(parse("{\"type\":\"somethingNew\"}", &m), 1);
	CU_ASSERT_EQUAL(parse("[1,2]", &m), -1);
	CU_ASSERT_EQUAL(parse("{\"type\":", &m), -1);
}

static void
test_refusal(void)
{
	char	*text = notify_msg_refusal("ab", "port \"22\" closed");

	CU_ASSERT_STRING_EQUAL(text, "{\"type\":\"sessionRefused\",\"id\":\"ab\","
	    "\"reason\":\"port \\\"22\\\" closed\"}");
	free(text);
}

static void
test_policy(void)
{
	struct agentconf	ac;
	char			why[300], err[256];
	char			*ports[] = { "22", "8000-8080" };

	CU_ASSERT_EQUAL(agentconf_load("/nonexistent", &ac, err, sizeof(err)), 0);
	/* The default: enabled, no port listed, so nothing is allowed. */
	CU_ASSERT_EQUAL(notify_policy_check(&ac, 22, why, sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "not in incomingconnections.ports"));
	ac.incomingconnections_ports.items = ports;
	ac.incomingconnections_ports.n = 2;
	CU_ASSERT_EQUAL(notify_policy_check(&ac, 22, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(notify_policy_check(&ac, 8000, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(notify_policy_check(&ac, 8080, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(notify_policy_check(&ac, 8081, why, sizeof(why)), -1);
	CU_ASSERT_EQUAL(notify_policy_check(&ac, 2, why, sizeof(why)), -1);
	ac.config_mode = AGENTCONF_MODE_MONITOR;
	CU_ASSERT_EQUAL(notify_policy_check(&ac, 22, why, sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "monitor"));
	ac.config_mode = AGENTCONF_MODE_FULL;
	ac.incomingconnections_enabled = 0;
	CU_ASSERT_EQUAL(notify_policy_check(&ac, 22, why, sizeof(why)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "incomingconnections.enabled = false"));
	ac.incomingconnections_ports.items = NULL;
	ac.incomingconnections_ports.n = 0;
	agentconf_clear(&ac);
}

static const struct unit_test tests[] = {
	{ "goalState messages", test_goal_state },
	{ "session messages", test_session },
	{ "sessionRefused", test_refusal },
	{ "local controls on a session", test_policy },
	{ NULL, NULL }
};

int
main(void)
{
	return unit_main("notify_msg", tests);
}
