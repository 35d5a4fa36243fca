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
if [ -z "$hdr" ]; then
	write_status Enable error 2 "no challenge from $IDENTITY_ENDPOINT"
	exit 0
fi
# Read the realm only if it is a key file that himds wrote: <run>/tokens/*.key,
# a regular file (not a link) that the user himds owns, of at most 4096 bytes.
# Anything answering on the IMDS port in himds's place could otherwise name
# any file that this root handler can read, and have it sent as the key.
case $hdr in
/*/tokens/*.key) ok=1 ;;
*) ok=0 ;;
esac
case $hdr in
*/../* | */./* | *//*) ok=0 ;;
esac
if [ $ok = 1 ] && [ -f "$hdr" ] && [ ! -L "$hdr" ] &&
    [ "$(stat -c %U "$hdr")" = himds ] && [ "$(stat -c %s "$hdr")" -le 4096 ]; then
	key=$(cat "$hdr")
else
	write_status Enable error 2 "the challenge's realm '$hdr' is not a key file of himds's (tokens/*.key, owned by himds, at most 4096 bytes)"
	exit 0
fi
body=$(curl -sS -H Metadata:true -H "Authorization: Basic $key" "$url" 2>&1)
token=$(printf '%s' "$body" | sed -n 's/.*"access_token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
if [ -n "$token" ]; then
	# No token in a log folder (azcmagent logs collects them): only its
	# header and claims, without the signature that makes it usable.
	printf '%s' "${token%.*}" > "$log_dir/token.claims"
	write_status Enable success 0 "token for $resource: ${#token} characters, from $IDENTITY_ENDPOINT"
else
	write_status Enable error 3 "no token: $body"
fi
exit 0
