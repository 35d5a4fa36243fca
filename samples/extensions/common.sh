# common.sh -- what the sample handlers share: the handler environment, settings and status files of the VM agent's protocol, in plain sh.
# Sourced by each handler; copied into every sample's package by pack.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
env_file="$here/HandlerEnvironment.json"

# json_field FILE KEY: the first "KEY": "string" or "KEY": number|true|false in FILE.
json_field() {
	sed -n 's/.*"'"$2"'"[[:space:]]*:[[:space:]]*\("\([^"]*\)"\|\([-0-9.a-z]*\)\).*/\2\3/p' "$1" | head -n 1
}

seq=${ConfigSequenceNumber:-0}
version=${AZURE_GUEST_AGENT_EXTENSION_VERSION:-unknown}
status_dir=$(json_field "$env_file" statusFolder)
config_dir=$(json_field "$env_file" configFolder)
log_dir=$(json_field "$env_file" logFolder)
settings="$config_dir/$seq.settings"

# setting KEY [DEFAULT]: a scalar of publicSettings.
setting() {
	v=""
	[ -f "$settings" ] && v=$(json_field "$settings" "$1")
	[ -n "$v" ] && echo "$v" || echo "${2:-}"
}

# calls: one line per handler call, in order, in the log folder (it
# outlives versions: it is named by Publisher.Type).
log_call() {
	echo "$1 $version seq=$seq${AZURE_GUEST_AGENT_UPDATING_FROM_VERSION:+ from=$AZURE_GUEST_AGENT_UPDATING_FROM_VERSION}" >> "$log_dir/calls.log"
}

# write_status OPERATION STATUS CODE MESSAGE: status/<seq>.status, atomically.
write_status() {
	msg=$(printf '%s' "$4" | tr -d '\n"\\' | cut -c1-900)
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	printf '[{"version":1.0,"timestampUTC":"%s","status":{"name":"%s","operation":"%s","status":"%s","code":%s,"formattedMessage":{"lang":"en-US","message":"%s"}}}]\n' \
		"$now" "$(basename "$here")" "$1" "$2" "$3" "$msg" > "$status_dir/$seq.status.tmp" &&
		mv "$status_dir/$seq.status.tmp" "$status_dir/$seq.status"
}
