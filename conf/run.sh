#!/bin/bash
# run.sh -- `make run`: the whole appliance in the foreground against cloudsim, connected on first use.
#   run/cloud  cloudsim's config, PKI and state     run/etc  the appliance's config dir
#   run/var    the appliance's state dir (root's 0755; run/var/himds and run/var/arcproxy
#              belong to the daemons)                run/run  the run dir: pid files, token keys
#   Ctrl-C or SIGTERM stops everything.
set -euo pipefail
BIN=${BIN:-build/bin}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p run/cloud run/etc run/var run/run

# Started as root, the daemons run as their own users; group arc reads the
# machine key.  State and run dir are root's and only root writes in them:
# each daemon makes its own subdirectory (run/var/himds, run/var/arcproxy,
# run/run/tokens) before it drops its privileges.
if [ "$(id -u)" = 0 ]; then
	getent group arc >/dev/null || groupadd --system arc
	for u in arcproxy himds arcnotify; do
		id "$u" >/dev/null 2>&1 ||
			useradd --system --no-create-home --shell /usr/sbin/nologin "$u"
		usermod -a -G arc "$u"
	done
	chown root:root run/var run/run && chmod 0755 run/var run/run
fi
dirs=(--config-dir run/etc --state-dir run/var --run-dir run/run)

# cloudsim: the gateway (8443), the control plane behind management.cloudsim.test,
# the operator API (127.0.0.1:8447) and the echo service.
[ -f run/cloud/cloudsim.conf ] || sed -e 's|^pki_dir = .*|pki_dir = "pki";|' \
	conf/cloudsim.conf > run/cloud/cloudsim.conf
# (Again each time: it keeps the CAs and adds what an older PKI lacks, e.g. the package-signing CA.)
"$BIN"/cloudsim pki run/cloud/pki >/dev/null
[ -f run/cloud/onboarding-token ] ||
	(umask 077; echo cloudsim-demo-onboarding-token > run/cloud/onboarding-token)
chmod 600 run/cloud/onboarding-token	# a secret: the owner only
cp run/cloud/pki/ca.crt run/etc/ca.crt

# The appliance: arcproxy reaches gw.cloudsim.test on loopback (there is no
# DNS for *.cloudsim.test here); azcmagent connect turns on gateway mode.
[ -f run/etc/arcproxy.conf ] || cat > run/etc/arcproxy.conf <<'CONF'
# arcproxy.conf for `make run`: the defaults of conf/arcproxy.conf, plus the
# gateway's name (there is no DNS for *.cloudsim.test on this machine).
hosts = ( { name = "gw.cloudsim.test"; address = "127.0.0.1"; } );
CONF
chmod -R a+rX run/etc run/cloud/cloudsim.conf

pids=()
stop() {
	trap - INT TERM EXIT
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

wait_port() {	# wait_port PORT: bounded, 5 s
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "run.sh: nothing listens on port $1" >&2
	return 1
}

"$BIN"/cloudsim -d --config-dir run/cloud --state-dir run/cloud &
pids+=($!)
wait_port 8443
"$BIN"/arcproxy -d "${dirs[@]}" &
pids+=($!)
"$BIN"/himds -d "${dirs[@]}" &
pids+=($!)
# arcnotify: the notification channel and remote sessions (cloudsim remote).
"$BIN"/arcnotify -d "${dirs[@]}" &
pids+=($!)
wait_port 40343
wait_port 40342
# extmgr (root when run as root: it runs the extensions' handlers); polls every
# 5 s here, not 300, so that a deployed sample shows at once.
[ -f run/etc/extmgr.conf ] || sed -e 's|^poll_seconds = .*|poll_seconds = 5;|' \
	conf/extmgr.conf > run/etc/extmgr.conf
"$BIN"/extmgr -d "${dirs[@]}" &
pids+=($!)

if [ ! -f run/var/machine.json ]; then
	"$BIN"/azcmagent connect "${dirs[@]}" \
		--cloud-url https://management.cloudsim.test \
		--gateway-url https://gw.cloudsim.test:8443 --ca-file run/etc/ca.crt \
		--onboarding-token-file run/cloud/onboarding-token \
		--resource-name "$(hostname | tr -c 'A-Za-z0-9\n-' -)" --tags env=demo
fi
# guestconfig (root when run as root: it evaluates and corrects the machine's
# settings); here it polls every 5 s and evaluates every 10 s, not every 15
# minutes, so that the README's demo shows a correction at once.
if [ -x "$BIN"/guestconfig ]; then
	[ -f run/etc/guestconfig.conf ] || sed -e 's|^poll_seconds = .*|poll_seconds = 5;|' \
		-e 's|^evaluation_seconds = .*|evaluation_seconds = 10;|' \
		conf/guestconfig.conf > run/etc/guestconfig.conf
	"$BIN"/guestconfig -d "${dirs[@]}" &
	pids+=($!)
fi
cat >&2 <<'MSG'
run.sh: the appliance is up. Try:
  build/bin/azcmagent show --config-dir run/etc --state-dir run/var --run-dir run/run
  curl --cacert run/etc/ca.crt -x http://127.0.0.1:40343 https://echo.cloudsim.test/
  curl -s http://127.0.0.1:8447/operator/machines
  samples/extensions/pack.sh hello 1.0 run/cloud/packages run/cloud/pki   (then README: extensions)
  build/bin/azcmagent config set incomingconnections.ports 22 --config-dir run/etc --state-dir run/var --run-dir run/run
  ssh -o ProxyCommand="build/bin/cloudsim remote $(hostname | tr -c 'A-Za-z0-9\n-' -) 22" localhost
MSG
wait -n "${pids[@]}"
