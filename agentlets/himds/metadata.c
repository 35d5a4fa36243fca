/* metadata.c -- the documents of the local metadata API, built from machine.json as Azure's IMDS shapes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"
#include "metadata.h"

/* A tag's value as text: strings as they are, anything else as JSON. */
static char *
metadata_tag_value(const json_t *v)
{
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

char *
himds_metadata_tags(const json_t *tags)
{
	const char	*k;
	json_t		*v;
	char		*out, *val, *p;
	size_t		 len = 0, cap = 64;

	if ((out = malloc(cap)) == NULL)
		return NULL;
	out[0] = '\0';
	if (!json_is_object(tags))
		return out;
	json_object_foreach((json_t *)tags, k, v) {
		if ((val = metadata_tag_value(v)) == NULL)
			goto fail;
		while (len + strlen(k) + strlen(val) + 3 > cap) {
			cap *= 2;
			if ((p = realloc(out, cap)) == NULL) {
				free(val);
				goto fail;
			}
			out = p;
		}
		len += snprintf(out + len, cap - len, "%s%s:%s", len ? ";" : "",
		    k, val);
		free(val);
	}
	return out;
 fail:
	free(out);
	return NULL;
}

static const char *
metadata_string(const json_t *obj, const char *key)
{
	const char	*s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

/* Azure's tagsList: [{"name", "value"}], beside the tags string. */
static json_t *
metadata_tags_list(const json_t *tags)
{
	json_t		*list, *v;
	const char	*k;
	char		*val;

	if ((list = json_array()) == NULL || !json_is_object(tags))
		return list;
	json_object_foreach((json_t *)tags, k, v) {
		if ((val = metadata_tag_value(v)) == NULL ||
		    json_array_append_new(list, json_pack("{s:s,s:s}", "name", k,
		    "value", val)) == -1) {
			free(val);
			json_decref(list);
			return NULL;
		}
		free(val);
	}
	return list;
}

char *
himds_metadata_instance(const struct himds_machine *m)
{
	const json_t	*res = json_object_get(m->doc, "resource");
	const json_t	*tags = json_object_get(res, "tags");
	json_t		*doc, *list;
	char		*tagtext, *out = NULL;

	if ((tagtext = himds_metadata_tags(tags)) == NULL)
		return NULL;
	if ((list = metadata_tags_list(tags)) == NULL) {
		free(tagtext);
		return NULL;
	}
	doc = json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s},s:{}}",
	    "compute",
	    "resourceId", m->resource_id,
	    "subscriptionId", metadata_string(res, "subscriptionId"),
	    "resourceGroupName", metadata_string(res, "resourceGroupName"),
	    "location", metadata_string(res, "location"),
	    "name", m->name,
	    "osType", "Linux",
	    "tags", tagtext,
	    "tagsList", list,
	    "vmId", metadata_string(res, "vmId"),
	    "network");
	free(tagtext);
	if (doc != NULL)
		out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return out;
}

char *
himds_metadata_endpoints(const struct himds_machine *m)
{
	json_t	*doc;
	char	*out = NULL;

	doc = json_pack("{s:s,s:{}}", "resourceManager", m->cloud_url,
	    "dataplaneEndpoints");
	if (doc != NULL)
		out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return out;
}
