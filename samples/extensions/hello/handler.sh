#!/bin/sh
# handler.sh -- the Hello sample: enable fetches https://echo.cloudsim.test/bytes/N with plain curl (the proxy comes from the environment extmgr gives) and reports what came.
. "$(dirname "$0")/common.sh"
op=$1
log_call "$op"
case $op in
enable)
	n=$(setting bytes 1000)
	ca=$(setting caFile)
	url="https://echo.cloudsim.test/bytes/$n"
	if got=$(curl -sS -o /dev/null -w '%{size_download}' ${ca:+--cacert "$ca"} "$url" 2>&1); then
		write_status Enable success 0 "fetched $got bytes from $url"
	else
		write_status Enable error 1 "curl $url: $got"
	fi
	;;
disable)
	# failDisable: true makes this version's disable fail (the upgrade test).
	if [ "$(setting failDisable false)" = true ]; then
		echo "disable refused: failDisable is set" >&2
		exit 3
	fi
	;;
install|update|uninstall)
	;;
*)
	echo "unknown operation $op" >&2
	exit 2
	;;
esac
exit 0
