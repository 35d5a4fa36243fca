#!/bin/sh
# handler.sh -- the Failing sample: enable exits 0 but writes an error status (code 42), the way an extension reports that its own work failed.
. "$(dirname "$0")/common.sh"
op=$1
log_call "$op"
[ "$op" = enable ] || exit 0
write_status Enable error 42 "the failing sample fails on purpose: $(setting reason 'no reason given')"
exit 0
