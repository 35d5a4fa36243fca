#!/bin/bash
# run.sh -- `make run`: the whole appliance in the foreground against cloudsim (demo PKI made on first use).
#   run/cloud  cloudsim's config, PKI and state     run/etc  the appliance's config dir
#   run/var    the appliance's state dir             Ctrl-C or SIGTERM stops everything.
set -euo pipefail
BIN=${BIN:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p run/cloud run/etc run/var

if [ "$(id -u)" = 0 ] && ! id arcproxy >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin arcproxy
fi

# cloudsim: the gateway on 127.0.0.1:8443 and the echo service behind it.
[ -f run/cloud/cloudsim.conf ] || sed -e 's|^pki_dir = .*|pki_dir = "pki";|' \
	conf/cloudsim.conf > run/cloud/cloudsim.conf
[ -f run/cloud/pki/ca.crt ] || "$BIN"/cloudsim pki run/cloud/pki
[ -f run/var/machine.crt ] || {
	"$BIN"/cloudsim machine-cert run/cloud/pki "$(hostname)"
	cp "run/cloud/pki/$(hostname).crt" run/var/machine.crt
	cp "run/cloud/pki/$(hostname).key" run/var/machine.key
	chmod 600 run/var/machine.key
}
cp run/cloud/pki/ca.crt run/etc/ca.crt

# The appliance: arcproxy in gateway mode, reaching gw.cloudsim.test on loopback.
[ -f run/etc/arcproxy.conf ] || cat > run/etc/arcproxy.conf <<'CONF'
# arcproxy.conf for `make run`: the defaults of conf/arcproxy.conf, plus the
# gateway's name (there is no DNS for *.cloudsim.test on this machine).
hosts = ( { name = "gw.cloudsim.test"; address = "127.0.0.1"; } );
CONF
[ -f run/etc/agent.conf ] || cat > run/etc/agent.conf <<'CONF'
# agent.conf: the local settings (azcmagent config).  Written by `make run` for the demo.
connection = { type = "gateway"; };
gateway = { url = "https://gw.cloudsim.test:8443"; ca_file = "ca.crt"; };
CONF
chmod -R a+rX run

pids=()
stop() {
	trap - INT TERM EXIT
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$BIN"/cloudsim -d --config-dir run/cloud --state-dir run/cloud &
pids+=($!)
for _ in $(seq 50); do	# the gateway first, so arcproxy finds it at once
	(exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break
	sleep 0.1
done
"$BIN"/arcproxy -d --config-dir run/etc --state-dir run/var &
pids+=($!)
echo "run.sh: appliance up; try: curl --cacert run/etc/ca.crt -x http://127.0.0.1:40343 https://echo.cloudsim.test/" >&2
wait -n "${pids[@]}"
