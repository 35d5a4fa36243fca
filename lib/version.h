/* version.h -- the appliance's one version, reported by every program (heartbeats, azcmagent version, registration). */
#ifndef VERSION_H
#define VERSION_H

#define ARC_AGENT_VERSION	"1.0.0"

#endif
