#!/bin/sh
# handler.sh -- the Slow sample: enable starts a child and a grandchild that outlive any sane time limit, so that extmgr has to kill the whole group.
. "$(dirname "$0")/common.sh"
op=$1
log_call "$op"
[ "$op" = enable ] || exit 0
echo "enable: sleeping $(setting seconds 600) s, with a child"
(sleep "$(setting seconds 600)"; echo survived >> "$log_dir/survived") &
sleep "$(setting seconds 600)"
echo "enable: woke up" >&2
exit 0
