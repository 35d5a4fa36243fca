/* certs.h -- the settings certificate: extmgr's own RSA key and self-signed certificate, to which the cloud encrypts protectedSettings (never the machine identity key). */
#ifndef EXTMGR_CERTS_H
#define EXTMGR_CERTS_H

#include <stddef.h>

#define CERTS_KEY_FILE	"settings.key"	/* in <state>/extmgr, 0600 */
#define CERTS_CRT_FILE	"settings.crt"	/* 0600 */

struct certs_pair {
	char	*cert_pem;
	size_t	 cert_len;
	char	*key_pem;
	size_t	 key_len;
	char	 thumbprint[41];	/* uppercase hex SHA-1 of the DER cert */
};

/* Reads the pair from dirfd, or makes one (RSA 2048, self-signed, CN
 * "extmgr-settings", valid 10 years) when either file is missing or they
 * do not belong together.  0, or -1 with err. */
int	certs_ensure(int dirfd, struct certs_pair *, char *err, size_t errlen);
void	certs_clear(struct certs_pair *);

#endif
