/* agentconf.h -- agent.conf, the operator's local settings (azcmagent config), read by every daemon; one table of keys. */
#ifndef AGENTCONF_H
#define AGENTCONF_H

#include <stddef.h>

enum agentconf_connection {
	AGENTCONF_DIRECT,	/* management traffic goes direct (or via proxy.url) */
	AGENTCONF_GATEWAY,	/* management traffic goes through the Arc gateway */
};

enum agentconf_protocol {
	AGENTCONF_PROTO_AUTO,
	AGENTCONF_PROTO_H2,
	AGENTCONF_PROTO_HTTP11,
};

enum agentconf_mode {
	AGENTCONF_MODE_FULL,
	AGENTCONF_MODE_MONITOR,	/* no extension or configuration changes */
};

struct agentconf_list {
	char	**items;
	int	  n;
};

struct agentconf {
	int			 connection_type;	/* enum agentconf_connection */
	char			*gateway_url;		/* "https://host[:port]", or NULL */
	char			*gateway_ca_file;	/* absolute path, or NULL */
	int			 gateway_protocol;	/* enum agentconf_protocol */
	char			*proxy_url;		/* "http://host[:port]", or NULL */
	struct agentconf_list	 proxy_bypass;
	int			 extensions_enabled;
	struct agentconf_list	 extensions_allowlist;	/* "Publisher/Type" */
	struct agentconf_list	 extensions_blocklist;
	int			 guestconfiguration_enabled;
	int			 incomingconnections_enabled;
	struct agentconf_list	 incomingconnections_ports;
	int			 config_mode;		/* enum agentconf_mode */
};

enum agentconf_type {
	AGENTCONF_T_ENUM,	/* a string from a fixed set; stored as its index */
	AGENTCONF_T_BOOL,
	AGENTCONF_T_URL,	/* a string URL with the key's scheme */
	AGENTCONF_T_PATH,	/* a file; held absolute (relative: to the config dir) */
	AGENTCONF_T_LIST,	/* strings, each checked by the key's item rule */
};

enum agentconf_item {
	AGENTCONF_ITEM_ANY,
	AGENTCONF_ITEM_EXTENSION,	/* "Publisher/Type", or "Allow/None" */
	AGENTCONF_ITEM_PORT,		/* "22" or "8000-8080" */
	AGENTCONF_ITEM_SERVICE,		/* AAD, ARM, AMA, Arc, ArcData */
};

struct agentconf_key {
	const char		*name;		/* "group.key", as azcmagent names it */
	enum agentconf_type	 type;
	const char *const	*values;	/* ENUM: the choices, NULL-terminated */
	const char		*scheme;	/* URL: "https" or "http" */
	enum agentconf_item	 item;		/* LIST: what each entry must be */
	const char		*def;		/* the default, as text */
	size_t			 offset;	/* of the field in struct agentconf */
	const char		*help;
};

extern const struct agentconf_key agentconf_keys[];	/* ends with a NULL name */
/* config.mode monitor: the only extensions that may be installed or changed
 * ("Publisher/Type", NULL-terminated), whatever the lists say. */
extern const char *const agentconf_monitor_extensions[];

/* Reads <config_dir>/agent.conf; a missing file means every default.
 * Errors name the file, the line and what was expected. */
int	agentconf_load(const char *config_dir, struct agentconf *, char *err,
	    size_t errlen);
void	agentconf_clear(struct agentconf *);
/* Rules across keys: gateway mode needs gateway.url and gateway.ca_file. */
int	agentconf_check(const struct agentconf *, char *err, size_t errlen);
/* Writes it (atomically), with only the keys that differ from the default. */
int	agentconf_save(const char *config_dir, const struct agentconf *, char *err,
	    size_t errlen);

const struct agentconf_key *agentconf_key_find(const char *name);
/* A value as text (list entries joined by ","); the caller frees it. */
char	*agentconf_get(const struct agentconf *, const struct agentconf_key *);
/* Sets a scalar from text, or replaces a list with one entry per comma
 * (trimmed; a repeat kept once); err names the valid values when text is
 * not one of them. */
int	agentconf_set(struct agentconf *, const struct agentconf_key *, const char *text,
	    const char *config_dir, char *err, size_t errlen);
/* Lists: add an entry unless present, remove it if present (Publisher/Type
 * entries compared ignoring case, as extmgr matches them). */
int	agentconf_list_add(struct agentconf *, const struct agentconf_key *,
	    const char *item, char *err, size_t errlen);
int	agentconf_list_remove(struct agentconf *, const struct agentconf_key *,
	    const char *item, char *err, size_t errlen);
/* Each comma-separated entry of text (trimmed) added (add) or removed. */
int	agentconf_list_edit(struct agentconf *, const struct agentconf_key *,
	    const char *text, int add, char *err, size_t errlen);
/* Back to the default. */
void	agentconf_reset(struct agentconf *, const struct agentconf_key *);

#endif
