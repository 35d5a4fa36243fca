/* pki.h -- the demo PKI: a CA, the gateway and service certificates, and machine certificates, made with OpenSSL. */
#ifndef PKI_H
#define PKI_H

#include <stddef.h>

#define PKI_GATEWAY_NAME	"gw.cloudsim.test"
#define PKI_SERVICES_DOMAIN	"cloudsim.test"
#define PKI_MACHINE_DAYS	90

/*
 * Creates dir (if needed) with ca.crt/ca.key, gateway.crt/.key and
 * services.crt/.key.  An existing CA is kept unless force is set (*kept is
 * then 1); a missing gateway or services pair is issued from it either way.
 * Keys are written 0600, certificates 0644, each through a rename.
 */
int	pki_create(const char *dir, int force, int *kept, char *err,
	    size_t errlen);
/* Issues dir/name.crt and dir/name.key: CN=name, clientAuth, signed by dir's CA. */
int	pki_issue_machine(const char *dir, const char *name, char *err,
	    size_t errlen);
/* Is name usable as a machine name and file name ([A-Za-z0-9._-], 1-64)? */
int	pki_name_ok(const char *name);

#endif
