/* metadata.h -- the documents of the local metadata API, built from machine.json as Azure's IMDS shapes them. */
#ifndef METADATA_H
#define METADATA_H

#include <jansson.h>

struct himds_machine;

/* GET /metadata/instance: {"compute": {...}, "network": {}}; the caller
 * frees the text. */
char	*himds_metadata_instance(const struct himds_machine *);
/* GET /metadata/endpoints: {"resourceManager", "dataplaneEndpoints"}. */
char	*himds_metadata_endpoints(const struct himds_machine *);
/* Azure's "k1:v1;k2:v2" form of a tags object ("" for none); the caller
 * frees it. */
char	*himds_metadata_tags(const json_t *tags);

#endif
