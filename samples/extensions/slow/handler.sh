#!/bin/sh
# handler.sh -- the Slow sample: enable starts a child and a grandchild that outlive any sane time limit, so that extmgr has to kill the whole group.
. "$(dirname "$0")/common.sh"
op=$1
log_call "$op"
[ "$op" = enable ] || exit 0
echo "enable: sleeping $(setting seconds 600) s, with a child"
(sleep "$(setting seconds 600)"; echo survived >> "$log_dir/survived") &
# A daemon that leaves the process group and the session (setsid -f: forked,
# its parent gone at once): the time limit must reach it all the same.
esc=$(setting escape "")
[ -z "$esc" ] || setsid -f sleep "$esc" </dev/null >/dev/null 2>&1
sleep "$(setting seconds 600)"
echo "enable: woke up" >&2
exit 0
