#!/usr/bin/env bash
# End to end: the ingress's TLS listener and certificate (mTLS) sources, with curl (OpenSSL)
# and Python's ssl module as independent clients and certificates from deploy/dev/tls-ca:
#  1. a certificate source takes a client certificate from its CA (202), and refuses none
#     (missing_client_certificate), one from another CA (bad_client_certificate) and one of
#     its CA for another name (client_certificate_subject_mismatch); nothing refused is stored;
#  2. other sources work over TLS as before (an hmac webhook, /healthz), and a client that
#     does not trust the server's CA, or speaks plain HTTP to the TLS port, gets no answer;
#  3. an ingress whose certificate source has no TLS listener refuses to start, naming it.
#
#   tests/e2e/tls.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
cli=$build/services/cli/hookrun
tmp=$(mktemp -d /tmp/hookrun-e2e-tls.XXXXXX)
chmod 755 "$tmp"
pgdir=$tmp/pg
pg_started=0
pids=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
	[ "$pg_started" = 1 ] && "$src/deploy/dev/pg" stop "$pgdir" fast >/dev/null 2>&1
	if [ "$rc" != 0 ]; then
		for f in "$tmp"/*.log; do
			[ -f "$f" ] && { echo "---- last lines of $(basename "$f") ----"; tail -n 15 "$f"; }
		done
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "tls: FAIL: $*" >&2
	exit 1
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS WHAT CMD...: run CMD every 0.2 s until it succeeds or the deadline passes.
wait_for() {
	local limit=$1 deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no $what within $limit s"
		sleep 0.2
	done
}

echo "==> PostgreSQL, two local CAs, an ingress with TLS"
db=$("$src/deploy/dev/pg" start "$pgdir")
pg_started=1
HOOKRUN_DB_URL=$db "$cli" migrate --dir "$src/migrations" >/dev/null
service_db=$("$src/deploy/dev/pg" service-url "$pgdir")
sql() { psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
"$src/deploy/dev/tls-ca" "$tmp/ca" versori-flows >/dev/null
"$src/deploy/dev/tls-ca" "$tmp/other" versori-flows >/dev/null # the same name, another CA
# A client certificate of the first CA for another name.
openssl req -newkey rsa:2048 -nodes -subj "/CN=someone-else" -keyout "$tmp/stranger.key" \
	-out "$tmp/stranger.csr" 2>/dev/null
printf 'subjectAltName=DNS:someone-else\nextendedKeyUsage=clientAuth\n' >"$tmp/stranger.ext"
openssl x509 -req -in "$tmp/stranger.csr" -CA "$tmp/ca/ca.pem" -CAkey "$tmp/ca/ca.key" \
	-CAcreateserial -days 1 -extfile "$tmp/stranger.ext" -out "$tmp/stranger.pem" 2>/dev/null

port=$(free_port)
cat >"$tmp/hookrun.ini" <<INI
[hookrun]
listen_port = $port
tls_cert_file = $tmp/ca/server.pem
tls_key_file = $tmp/ca/server.key
log_level = info

[source.mtls]
auth = certificate
certificate_ca_file = $tmp/ca/ca.pem
certificate_subject = versori-flows

[source.signed]
auth = hmac
secret = a-shared-secret
INI
HOOKRUN_DB_URL=$service_db "$build/services/ingress/hookrun-ingress" --config "$tmp/hookrun.ini" \
	>"$tmp/ingress.log" 2>&1 &
pids+=($!)
base=https://127.0.0.1:$port
trust=(--cacert "$tmp/ca/ca.pem")
wait_for 20 "ingress over TLS" curl -fs "${trust[@]}" "$base/healthz" -o /dev/null
grep -q 'event=ingress.listening.*tls=on' "$tmp/ingress.log" || fail "the listening line does not say tls=on"

# post SOURCE BODY CURL-ARGS...: "<status> <error code or delivery id>"
post() {
	local source=$1 body=$2
	shift 2
	curl -s "${trust[@]}" "$@" -H 'Content-Type: application/json' --data-binary "$body" \
		"$base/hooks/$source" -o "$tmp/answer.json" -w '%{http_code}' || true
	printf ' '
	python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print(a.get("delivery_id") or a["error"]["code"])' \
		"$tmp/answer.json" 2>/dev/null || echo '-'
}

echo "==> 1. a certificate source"
client=(--cert "$tmp/ca/client.pem" --key "$tmp/ca/client.key")
set -- $(post mtls '{"n":1}' "${client[@]}")
[ "$1" = 202 ] || fail "the CA's client certificate answered $1 $2"
first=$2
[ "$(sql "SELECT verified_by FROM hookrun.deliveries WHERE id = '$first'")" = certificate ] ||
	fail "the delivery is not verified_by certificate"
before=$(sql "SELECT count(*) FROM hookrun.deliveries")
for case in "none|missing_client_certificate" \
	"other|bad_client_certificate" \
	"stranger|client_certificate_subject_mismatch"; do
	who=${case%%|*} want=${case#*|}
	case $who in
	none) args=() ;;
	other) args=(--cert "$tmp/other/client.pem" --key "$tmp/other/client.key") ;;
	stranger) args=(--cert "$tmp/stranger.pem" --key "$tmp/stranger.key") ;;
	esac
	got=$(post mtls '{"n":2}' "${args[@]+"${args[@]}"}")
	[ "$got" = "401 $want" ] || fail "$who: answered '$got', not '401 $want'"
done
[ "$(sql "SELECT count(*) FROM hookrun.deliveries")" = "$before" ] || fail "a refused call was stored"

echo "==> 2. other sources over TLS, and clients that cannot talk to it"
sig=$(printf '%s' '{"n":3}' | openssl dgst -sha256 -hmac a-shared-secret -r | cut -d' ' -f1)
set -- $(post signed '{"n":3}' -H "X-Signature: $sig")
[ "$1" = 202 ] || fail "the hmac webhook over TLS answered $1 $2"
# Python's ssl module, another TLS stack's settings (its default context, TLS 1.2 at least).
python3 - "$port" "$tmp/ca/ca.pem" "$tmp/ca/client.pem" "$tmp/ca/client.key" <<'PY' || fail "python's ssl client"
import http.client, json, ssl, sys
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
c.request("POST", "/hooks/mtls", body=b'{"n":4}', headers={"Content-Type": "application/json"})
r = c.getresponse()
assert r.status == 202, (r.status, r.read())
print("python ssl:", r.status, json.loads(r.read())["delivery_id"], c.sock.version())
PY
code=$(curl -s --cacert "$tmp/other/ca.pem" "$base/healthz" -o /dev/null -w '%{http_code}' || true)
[ "$code" = 000 ] || fail "a client that does not trust the server's CA got $code"
code=$(curl -s --max-time 5 "http://127.0.0.1:$port/healthz" -o /dev/null -w '%{http_code}' || true)
case $code in 000 | 400) ;; *) fail "plain HTTP to the TLS port answered $code" ;; esac
code=$(curl -s --tls-max 1.1 "${trust[@]}" "$base/healthz" -o /dev/null -w '%{http_code}' || true)
[ "$code" = 000 ] || fail "TLS 1.1 was accepted ($code)"

echo "==> 3. a certificate source without the TLS listener"
sed -e '/^tls_/d' -e "s/^listen_port = .*/listen_port = 0/" "$tmp/hookrun.ini" >"$tmp/plain.ini"
if HOOKRUN_DB_URL=$service_db "$build/services/ingress/hookrun-ingress" --config "$tmp/plain.ini" \
	>"$tmp/plain.log" 2>&1; then
	fail "an ingress with a certificate source and no TLS started"
fi
grep -q "auth=certificate needs the TLS listener" "$tmp/plain.log" || fail "the refusal does not say why"
echo "tls: ok"
