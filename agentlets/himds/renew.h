/* renew.h -- renews the machine certificate at half its lifetime: a new key made here, a CSR to the cloud, both files replaced, arcproxy told. */
#ifndef RENEW_H
#define RENEW_H

#include <time.h>

struct himds;
struct himds_renew;

struct himds_renew	*himds_renew_new(struct himds *);
void			 himds_renew_free(struct himds_renew *);
/* The identity changed: arm the timer for half its certificate's life. */
void			 himds_renew_schedule(struct himds_renew *);
/* When a certificate valid from not_before to not_after is renewed. */
time_t			 himds_renew_due(time_t not_before, time_t not_after);

#endif
