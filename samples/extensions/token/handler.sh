#!/bin/sh
# handler.sh -- the Token sample: enable gets a managed-identity token from himds through the Arc challenge (401 with a key file's path, then Basic with its content), as Arc-aware extensions do.
. "$(dirname "$0")/common.sh"
op=$1
log_call "$op"
[ "$op" = enable ] || exit 0
resource=$(setting resource https://management.azure.com/)
url="$IDENTITY_ENDPOINT?api-version=2020-06-01&resource=$resource"
hdr=$(curl -s -o /dev/null -D - -H Metadata:true "$url" | tr -d '\r' |
	sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: Basic realm=//p')
if [ -z "$hdr" ] || [ ! -r "$hdr" ]; then
	write_status Enable error 2 "no challenge from $IDENTITY_ENDPOINT (realm '$hdr')"
	exit 0
fi
key=$(cat "$hdr")
body=$(curl -sS -H Metadata:true -H "Authorization: Basic $key" "$url" 2>&1)
token=$(printf '%s' "$body" | sed -n 's/.*"access_token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
if [ -n "$token" ]; then
	printf '%s' "$token" > "$log_dir/token.jwt"
	write_status Enable success 0 "token for $resource: ${#token} characters, from $IDENTITY_ENDPOINT"
else
	write_status Enable error 3 "no token: $body"
fi
exit 0
