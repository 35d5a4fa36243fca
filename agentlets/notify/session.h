/* session.h -- one incoming remote session: the local port, then the relay through arcproxy with the rendezvous token, then bytes both ways until one side ends or the local controls say no. */
#ifndef NOTIFY_SESSION_H
#define NOTIFY_SESSION_H

struct arcnotify;
struct notify_msg;

/* Starts a session that the local controls allowed; it logs and frees
 * itself when it ends, and refuses itself (to the cloud) when the local
 * port cannot be reached. */
int	notify_session_start(struct arcnotify *, const struct notify_msg *);
/* Ends every session the local controls no longer allow (SIGHUP), or all
 * of them with why != NULL. */
void	notify_session_recheck(struct arcnotify *, const char *why);

#endif
