#!/usr/bin/env bash
# End to end, the way a user runs a bulk import: the hookrun CLI and curl against a real
# stack of its own (PostgreSQL, versori-sim on the demo fixture, an ingress that dispatches,
# two workers, a completion-callback receiver), nothing reached into but the simulator's
# admin endpoint (to inject faults and read its state).
#
#   tests/e2e/bulk_jobs.sh SOURCE_DIR BUILD_DIR [USERS]
#
#  1. A CSV with invalid rows is refused whole, naming row and column, and costs no API call.
#  2. A USERS-user provisioning job from a CSV (default 10,000): every user ends with exactly
#     one activation holding its row's variables; its completion callback arrives, signed.
#  3. The same Idempotency-Key returns the first job; the same CSV as a new job changes and
#     creates nothing (check then act).
#  4. With the simulator failing 10 % of calls with 5xx and a worker killed with SIGKILL
#     mid-job, every item still ends in its desired state (one activation per user).
#  5. A job cancelled half-way: queued items stop, the rest finished.
#  6. Items failed by a fault succeed on `hookrun jobs retry` once the fault is cleared.
#  7. A token of another organisation gets 404 for the job, its items, and a submission.
#  8. Webhooks routed to a job, unroutable and odd; a job that fails for good.
#  9. The audit trail of the run seals and verifies; the README's audit cookbook answers.
# 10. Secrets planted in every way one comes in (the services' credentials, API tokens, a
#     sender's Authorization, Cookie and signature headers, an API key in the query, a
#     connection's credential and a variable marked secret, both stored encrypted) are in no
#     table (pg_dump), no log line of the services and no answer of the API.
# Every wait is a poll with a deadline; every process started here is stopped by its PID.
set -euo pipefail

src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
users=${3:-10000}
cli=$build/services/cli/hookrun
org_id=01JGFJJZ00M9S346Q3D25VT4F5
project=01JGFJK3W8P1XPA7Z3DJ8FSSZ5
tmp=$(mktemp -d /tmp/hookrun-e2e-bulk.XXXXXX)
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
	echo "bulk_jobs: FAIL: $*" >&2
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

echo "==> PostgreSQL, versori-sim, ingress, two workers, a callback receiver ($users users)"
db=$("$src/deploy/dev/pg" start "$pgdir")
pg_started=1
HOOKRUN_DB_URL=$db "$cli" migrate --dir "$src/migrations" >/dev/null
service_db=$("$src/deploy/dev/pg" service-url "$pgdir") # the services' login (hookrun_service)
sql() { psql "$db" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/sk.pem" 2>/dev/null
sim_port=$(free_port)
VERSORI_SIM_API_KEY=$key VERSORI_SIM_SIGNING_PUBLIC_KEY="$(openssl pkey -in "$tmp/sk.pem" -pubout)" \
	"$build/services/versori-sim/versori-sim" --port "$sim_port" --log-level warn \
	--fixture "$src/deploy/dev/versori-sim.fixture.json" >"$tmp/sim.log" 2>&1 &
pids+=($!)
sim=http://127.0.0.1:$sim_port
wait_for 20 versori-sim curl -fs "$sim/_sim/healthz" -o /dev/null

callback_secret=whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')
printf '%s' "$callback_secret" >"$tmp/callback-secret"
python3 "$src/tests/support/callback_receiver.py" "$tmp/callbacks.jsonl" "$tmp/callback-secret" \
	204 >"$tmp/receiver.log" 2>&1 &
pids+=($!)
receiver_up() { grep -q 'listening port=' "$tmp/receiver.log"; }
wait_for 20 "callback receiver" receiver_up
receiver_port=$(sed -n 's/^listening port=//p' "$tmp/receiver.log")

port=$(free_port)
dport=$(free_port)
# What the routed source's jobs bind (as the CSV jobs' parameters do).
printf '{"connections":{"01JGFJK6T0SS6YS3C4DWA7N360":"01JGFJK7S896Q14DR9GPQY77ZX"},"dynamicConnections":{"01JGFJK5TRE0ZBGJ09TQM83XSS":{"name":"fluent-{externalId}","credentials":[]}}}' \
	>"$tmp/activate.params.json"
cat >"$tmp/hookrun.ini" <<INI
[hookrun]
listen_port = $port
dispatch_listen = tcp://127.0.0.1:$dport
dispatchers = tcp://127.0.0.1:$dport
worker_listen_port = 0
worker_slots = 32
lease = 2s
api_timeout_ms = 800
retry_base_ms = 20
retry_max_ms = 200
max_attempts = 10
log_level = warn
callback_urls = http://127.0.0.1:$receiver_port/

[versori.demo]
base_url = $sim
organisation_id = $org_id
concurrency = 256
secret_variables = pollIntervalMinutes

[versori.second]
base_url = $sim
organisation_id = 01JGFJJZ00M9S346Q3D25VT4F6

[source.hooks]
auth = none
allow_unauthenticated = true
idempotency_key = header:Idempotency-Key

[source.keyq]
auth = api-key
api_key_query = api_key

[source.activate]
auth = none
allow_unauthenticated = true
idempotency_key = header:Idempotency-Key
route = provision
organisation = demo
environment_id = 01JGFJK4VGAWSH8VHTPRE95B9E
job_parameters_file = $tmp/activate.params.json
INI
# The services' secrets, in their environment only (never an argument).
planted_query=planted-query-key-$RANDOM$RANDOM$RANDOM
secrets_key=$(head -c 32 /dev/urandom | base64)
svc_env=(HOOKRUN_DB_URL="$service_db" HOOKRUN_VERSORI_DEMO_API_KEY="$key" HOOKRUN_VERSORI_SECOND_API_KEY="$key"
	HOOKRUN_VERSORI_DEMO_CALLBACK_SECRET="$callback_secret" HOOKRUN_SOURCE_KEYQ_SECRET="$planted_query"
	HOOKRUN_SECRETS_KEY="$secrets_key")
env "${svc_env[@]}" "$build/services/ingress/hookrun-ingress" --config "$tmp/hookrun.ini" \
	>"$tmp/ingress.log" 2>&1 &
pids+=($!)
wait_for 20 ingress curl -fs "http://127.0.0.1:$port/readyz" -o /dev/null
worker_pid=()
start_worker() {
	env "${svc_env[@]}" "$build/services/worker/hookrun-worker" --config "$tmp/hookrun.ini" \
		>"$tmp/worker-$1.log" 2>&1 &
	pids+=($!)
	worker_pid[$1]=$!
}
start_worker 1
start_worker 2

HOOKRUN_DB_URL=$db "$cli" tokens create --name importer --org demo | sed -n 2p >"$tmp/token-a"
HOOKRUN_DB_URL=$db "$cli" tokens create --name other --org second | sed -n 2p >"$tmp/token-b"
# From here on the CLI talks to the API with the token, as on a machine without the database.
export HOOKRUN_API_URL=http://127.0.0.1:$port HOOKRUN_TOKEN_FILE=$tmp/token-a

# sim_calls ROUTE_PREFIX: calls the simulator answered on routes starting with it.
sim_calls() {
	curl -fsS "$sim/_sim/calls" | python3 -c '
import json, sys
print(sum(c["count"] for c in json.load(sys.stdin)["calls"] if c["route"].startswith(sys.argv[1])))' "$1"
}
# check_state PREFIX N: the simulator holds N users PREFIX-<i>, each with exactly one activation
# in the environment carrying its row's variables.
check_state() {
	curl -fsS "$sim/_sim/state" | python3 -c '
import json, sys
prefix, n = sys.argv[1], int(sys.argv[2])
org = next(o for o in json.load(sys.stdin)["organisations"] if o["id"] == sys.argv[3])
vals = lambda c: list(c.values()) if isinstance(c, dict) else list(c or [])
users = {u["id"]: u["externalId"] for u in vals(org.get("users")) if u["externalId"].startswith(prefix + "-")}
per = {}
for a in vals(org.get("activations")):
    if a["userId"] in users:
        per.setdefault(users[a["userId"]], []).append(a)
bad = [x for x in users.values() if len(per.get(x, [])) != 1]
wrong = []
for x, acts in per.items():
    i = int(x.rsplit("-", 1)[1])
    v = acts[0]["dynamicVariables"]
    if v.get("retailerId") != "r-%d" % i or v.get("pollIntervalMinutes") != i % 60 + 1:
        wrong.append(x)
if len(users) != n or bad or wrong:
    sys.exit("%d users (want %d), %d without exactly one activation (%s), %d with wrong variables (%s)"
             % (len(users), n, len(bad), bad[:3], len(wrong), wrong[:3]))' "$1" "$2" "$org_id"
}
# csv PREFIX N: N rows PREFIX-1..N with typed variables.
csv() {
	python3 -c '
import sys
prefix, n = sys.argv[1], int(sys.argv[2])
print("externalId,displayName,var.retailerId,var.pollIntervalMinutes,var.syncEnabled")
for i in range(1, n + 1):
    print("%s-%d,\"Customer %d, Inc.\",r-%d,%d,%s" % (prefix, i, i, i, i % 60 + 1, "true" if i % 2 else "false"))' "$1" "$2"
}
job_state() { sql "SELECT state FROM hookrun.jobs WHERE id = '$1'"; }
job_finished() { [ -n "$(sql "SELECT 1 FROM hookrun.jobs WHERE id = '$1' AND finished_at IS NOT NULL")" ]; }
submit() { # submit FILE [ARGS...]: the CLI's output in $out, the job id in $job
	"$cli" jobs submit --kind activation.provision --org demo --project "$project" \
		--env production "${@:2}" "$1" >"$tmp/submit.out" ||
		fail "jobs submit exited $?: $(tail -n 3 "$tmp/submit.out")"
	out=$(cat "$tmp/submit.out")
	job=$(sed -n 's/^job \([0-9a-f-]\{36\}\) .*/\1/p' <<<"$out" | head -n 1)
	[ -n "$job" ] || fail "no job id in: $out"
}

echo "==> 1. invalid rows: refused whole, with row and column, no API call"
{
	csv bad 3
	echo "bad-4,Four,r-4,often,true"
	echo "bad-5,Five,r-5,0,true"
	echo "bad-6,Six,r-6,7,maybe"
} >"$tmp/bad.csv"
before=$(sim_calls "POST /api/v2/o/{org}/")
set +e
out=$("$cli" jobs submit --kind activation.provision --org demo --project "$project" \
	--env production "$tmp/bad.csv" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || fail "an invalid CSV exited $rc: $out"
grep -q "row 5, var.pollIntervalMinutes: 'often' is not an integer" <<<"$out" || fail "$out"
grep -q "row 6, var.pollIntervalMinutes: must be >= 1" <<<"$out" || fail "$out"
grep -q "row 7, var.syncEnabled: 'maybe' is not a boolean" <<<"$out" || fail "$out"
[ "$(sql 'SELECT count(*) FROM hookrun.jobs')" = 0 ] || fail "an invalid CSV stored a job"
[ "$(sim_calls "POST /api/v2/o/{org}/")" = "$before" ] || fail "an invalid CSV made API calls"
[ "$(sim_calls "GET /api/v2/o/{org}/users")" = 0 ] || fail "an invalid CSV looked users up"

echo "==> 2. $users users from a CSV, watched to the end"
csv u "$users" >"$tmp/users.csv"
start=$SECONDS
printf '{"callbackUrl":"http://127.0.0.1:%s/done","connections":{"01JGFJK6T0SS6YS3C4DWA7N360":"01JGFJK7S896Q14DR9GPQY77ZX"},"dynamicConnections":{"01JGFJK5TRE0ZBGJ09TQM83XSS":{"name":"fluent-{externalId}","credentials":[]}}}' \
	"$receiver_port" >"$tmp/params.json"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); del p["callbackUrl"]; print(json.dumps(p))' \
	"$tmp/params.json" >"$tmp/params-plain.json"
submit "$tmp/users.csv" --idempotency-key import-1 --watch --parameters "$tmp/params.json"
first=$job
grep -q "^job $first succeeded$" <<<"$out" || fail "the watch ended with: $(tail -n 2 <<<"$out")"
grep -q "done: " <<<"$out" || fail "no progress line on a pipe"
echo "bulk_jobs: $users users provisioned in $((SECONDS - start)) s"
check_state u "$users" || fail "the simulator's state after the first job"
# pollIntervalMinutes is secret (secret_variables): stored encrypted, sent in clear (above).
n=$(sql "SELECT count(*) FROM hookrun.job_items WHERE job_id = '$first' AND desired #> '{variables,pollIntervalMinutes}' ? '\$encrypted'")
[ "$n" = "$users" ] || fail "$n of $users items hold pollIntervalMinutes encrypted"
creates=$(sim_calls "POST /api/v2/o/{org}/users")
activations=$(sim_calls "POST /api/v2/o/{org}/activations")
[ "$creates" = "$users" ] || fail "$creates users created for $users rows"
callback_in() { [ -s "$tmp/callbacks.jsonl" ]; }
wait_for 60 "completion callback" callback_in
python3 - "$tmp/callbacks.jsonl" "$first" "$users" <<'PY' || fail "the completion callback"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
last = reqs[-1]
ev = json.loads(last["body"])
assert last["verified"], "signature not verified"
assert ev["type"] == "job.finished" and ev["data"]["job_id"] == sys.argv[2], ev
assert ev["data"]["state"] == "succeeded" and ev["data"]["items"]["succeeded"] == int(sys.argv[3]), ev
PY

echo "==> 3. the same key returns the first job; the same CSV again changes nothing"
submit "$tmp/users.csv" --idempotency-key import-1 --parameters "$tmp/params.json"
[ "$job" = "$first" ] && grep -q "submitted before" <<<"$out" || fail "the same key gave: $out"
submit "$tmp/users.csv" --idempotency-key import-2 --watch --parameters "$tmp/params.json"
grep -q "^job $job succeeded$" <<<"$out" || fail "the second run ended with: $(tail -n 2 <<<"$out")"
[ "$job" != "$first" ] || fail "a new key returned the first job"
[ "$(sim_calls "POST /api/v2/o/{org}/users")" = "$creates" ] || fail "the second run created users"
[ "$(sim_calls "POST /api/v2/o/{org}/activations")" = "$activations" ] ||
	fail "the second run created activations"
check_state u "$users" || fail "the simulator's state after the second job"

echo "==> 4. 10 % of calls fail with 5xx and a worker is killed mid-job"
curl -fsS -X PUT "$sim/_sim/faults" -d '{"rules":[{"kind":"error","rate":0.1,"statuses":[500,502,503]}]}' >/dev/null
csv f 2000 >"$tmp/faulty.csv"
submit "$tmp/faulty.csv" --parameters "$tmp/params-plain.json"
quarter() {
	case $(sql "SELECT items_succeeded >= 500 OR finished_at IS NOT NULL FROM hookrun.jobs WHERE id = '$job'") in
	t) true ;;
	*) false ;;
	esac
}
wait_for 120 "a quarter of the faulty job" quarter
kill -KILL "${worker_pid[1]}"
start_worker 3
wait_for 300 "end of the faulty job" job_finished "$job"
curl -fsS -X DELETE "$sim/_sim/faults" >/dev/null
[ "$(job_state "$job")" = succeeded ] ||
	fail "the faulty job ended $(job_state "$job"): $(sql "SELECT last_error FROM hookrun.job_items WHERE job_id = '$job' AND state = 'failed' LIMIT 1")"
check_state f 2000 || fail "the simulator's state after faults and a killed worker"
echo "bulk_jobs: 2000 users through 10 % 5xx and a SIGKILL: $(sql "SELECT sum(attempt) FROM hookrun.job_items WHERE job_id = '$job'") attempts"

echo "==> 5. cancelled half-way"
curl -fsS -X PUT "$sim/_sim/faults" -d '{"rules":[{"kind":"latency","ms":20}]}' >/dev/null
csv c 2000 >"$tmp/cancel.csv"
submit "$tmp/cancel.csv" --parameters "$tmp/params-plain.json"
some() { [ "$(sql "SELECT items_succeeded >= 100 OR finished_at IS NOT NULL FROM hookrun.jobs WHERE id = '$job'")" = t ]; }
wait_for 120 "the first 100 of the job to cancel" some
"$cli" jobs cancel "$job" >/dev/null
wait_for 60 "end of the cancelled job" job_finished "$job"
curl -fsS -X DELETE "$sim/_sim/faults" >/dev/null
read -r st ok cancelled left < <(sql "SELECT state, items_succeeded, items_cancelled, items_queued + items_leased + items_failed FROM hookrun.jobs WHERE id = '$job'" | tr '|' ' ')
[ "$st" = cancelled ] && [ "$left" = 0 ] && [ "$cancelled" -gt 0 ] && [ $((ok + cancelled)) = 2000 ] ||
	fail "after cancel: state $st, $ok succeeded, $cancelled cancelled, $left other"
echo "bulk_jobs: cancel stopped $cancelled of 2000 items ($ok had finished)"

echo "==> 6. failed by a fault, retried after it is cleared"
curl -fsS -X PUT "$sim/_sim/faults" \
	-d '{"rules":[{"kind":"error","method":"POST","route":"/api/v2/o/{org}/activations","statuses":[503]}]}' >/dev/null
csv r 20 >"$tmp/retry.csv"
submit "$tmp/retry.csv" --parameters "$tmp/params-plain.json"
wait_for 120 "end of the failing job" job_finished "$job"
[ "$(job_state "$job")" = failed ] || fail "the failing job ended $(job_state "$job")"
curl -fsS -X DELETE "$sim/_sim/faults" >/dev/null
"$cli" jobs retry "$job" | grep -q "20 items queued again" || fail "retry did not queue the 20 items"
wait_for 120 "end of the retried job" job_finished "$job"
[ "$(job_state "$job")" = succeeded ] || fail "the retried job ended $(job_state "$job")"
check_state r 20 || fail "the simulator's state after the retry"

echo "==> 7. another organisation's token sees nothing of it"
b=(-H "Authorization: Bearer $(cat "$tmp/token-b")")
for path in "/v1/jobs/$first" "/v1/jobs/$first/items"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "${b[@]}" "http://127.0.0.1:$port$path")
	[ "$code" = 404 ] || fail "GET $path with the other token answered $code"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "${b[@]}" -H 'Content-Type: text/csv' \
	--data-binary @"$tmp/retry.csv" "http://127.0.0.1:$port/v1/jobs?kind=activation.remove&organisation=demo")
[ "$code" = 404 ] || fail "a submission for demo with the other token answered $code"
n=$(HOOKRUN_TOKEN_FILE=$tmp/token-b "$cli" jobs list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
[ "$n" = 0 ] || fail "the other token lists $n jobs"

echo "==> 8. webhooks: one routed to a job, one that cannot be, odd bodies stored; a job that fails for good"
hook() { # hook SOURCE KEY CONTENT-TYPE BODY: the HTTP status
	curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/hooks/$1" \
		-H "Idempotency-Key: $2" -H "Content-Type: $3" --data-binary "$4"
}
[ "$(hook activate a-1 application/json '{"externalId":"u-17","displayName":"Customer 17, Inc.","variables":{"retailerId":"r-17","pollIntervalMinutes":18,"syncEnabled":true}}')" = 202 ] ||
	fail "the routed webhook was not accepted"
[ "$(hook activate a-2 application/json '{"displayName":"nobody"}')" = 202 ] ||
	fail "the unroutable webhook was not accepted"
# Bodies a store-only source keeps as they come: a view must never fail on one.
for body in '{"text":"a NUL \u0000 escaped"}' 'not JSON at all' '{"deep":[[[[[[[[1]]]]]]]]}'; do
	code=$(hook hooks "odd-$RANDOM" application/json "$body")
	case $code in 202 | 400) ;; *) fail "a store-only webhook answered $code" ;; esac
done
routed_done() { [ "$(sql "SELECT count(*) FROM hookrun.jobs WHERE submitted_by = 'source:activate' AND finished_at IS NOT NULL")" = 1 ]; }
wait_for 60 "end of the webhook's job" routed_done
curl -fsS -X PUT "$sim/_sim/faults" \
	-d '{"rules":[{"kind":"error","method":"POST","route":"/api/v2/o/{org}/activations","statuses":[500]}]}' >/dev/null
csv x 3 >"$tmp/refused.csv"
submit "$tmp/refused.csv" --parameters "$tmp/params-plain.json"
failed_job=$job
wait_for 120 "end of the refused job" job_finished "$job"
curl -fsS -X DELETE "$sim/_sim/faults" >/dev/null
[ "$(job_state "$job")" = failed ] || fail "the refused job ended $(job_state "$job")"

echo "==> 9. the audit trail of all this: sealed, every digest and hash holds, the cookbook answers"
HOOKRUN_DB_URL=$db "$cli" audit seal >/dev/null
out=$(HOOKRUN_DB_URL=$db "$cli" audit verify) || fail "audit verify: $out"
echo "$out"
n=$(sql "SELECT count(*) FROM hookrun.audit_events WHERE kind = 'api.call'")
[ "$n" -gt "$users" ] || fail "only $n api.call audit rows for $users users"
python3 "$src/tests/e2e/audit_cookbook.py" "$db" "$src/README.md" external_id=u-17 \
	failed_job="$failed_job" || fail "the README's audit cookbook"

echo "==> 10. secrets: none reaches a table, a log line or an API answer"
# Distinctive values in every way a secret comes in: the services' credentials (environment),
# the API tokens, and the credentials a sender puts in headers and in the query.
planted_auth=planted-authorization-$RANDOM$RANDOM$RANDOM
planted_cookie=planted-cookie-$RANDOM$RANDOM$RANDOM
planted_sig=planted-signature-$RANDOM$RANDOM$RANDOM
# (To the routed source: the API shows a token only its organisation's deliveries.)
code=$(curl -s -o "$tmp/planted.json" -w '%{http_code}' "http://127.0.0.1:$port/hooks/activate" \
	-H "Authorization: Bearer $planted_auth" -H "Cookie: session=$planted_cookie" \
	-H "Webhook-Signature: v1,$planted_sig" -H "Content-Type: application/json" \
	-H "Idempotency-Key: planted-1" --data-binary '{"displayName":"planted, unroutable"}')
[ "$code" = 202 ] || fail "the webhook with planted credentials answered $code"
planted_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["delivery_id"])' "$tmp/planted.json")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/hooks/keyq?api_key=$planted_query&n=1" \
	-H "Content-Type: application/json" --data-binary '{"n":1}')
[ "$code" = 202 ] || fail "the webhook with its key in the query answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/hooks/keyq?api_key=wrong-$planted_query" \
	-H "Content-Type: application/json" --data-binary '{"n":2}')
[ "$code" = 401 ] || fail "a wrong key in the query answered $code"
keyq_id=$(sql "SELECT id FROM hookrun.deliveries WHERE source = 'keyq'")
# A job whose dynamic connection carries a credential: stored encrypted, the API gets it.
planted_cred=planted-credential-$RANDOM$RANDOM$RANDOM
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); p["dynamicConnections"]["01JGFJK5TRE0ZBGJ09TQM83XSS"]["credentials"]=[{"id":"00000000000000000000000000","credential":{"type":"string","data":{"string":{"value":sys.argv[2]}}}}]; print(json.dumps(p))' \
	"$tmp/params-plain.json" "$planted_cred" >"$tmp/params-secret.json"
echo '[{"externalId":"secret-1","displayName":"Secret","variables":{"retailerId":"r-s","pollIntervalMinutes":5,"syncEnabled":true}}]' >"$tmp/secret.json"
submit "$tmp/secret.json" --parameters "$tmp/params-secret.json"
wait_for 60 "end of the job with a credential" job_finished "$job"
[ "$(job_state "$job")" = succeeded ] || fail "the job with a credential ended $(job_state "$job")"
curl -fsS "$sim/_sim/state" | grep -qF -- "$planted_cred" || fail "the API did not get the credential"
for path in "/v1/deliveries/$planted_id" "/v1/jobs" "/v1/jobs/$job" "/v1/jobs/$job/items?limit=5"; do
	curl -fsS -H "Authorization: Bearer $(cat "$tmp/token-a")" "http://127.0.0.1:$port$path" >>"$tmp/answers.txt" ||
		fail "GET $path"
	echo >>"$tmp/answers.txt"
done
"$cli" deliveries show "$planted_id" --json >>"$tmp/answers.txt" || fail "deliveries show"
env -u HOOKRUN_API_URL -u HOOKRUN_TOKEN_FILE HOOKRUN_DB_URL="$db" "$cli" deliveries show "$keyq_id" >>"$tmp/answers.txt" ||
	fail "deliveries show (database)"

# Stop everything by its PID (the ingress writes its audit tallies as it stops); a sanitizer
# report in any log (leaks show at exit) fails.
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
[ "$(sql "SELECT count(*) FROM hookrun.audit_events WHERE kind = 'delivery.rejected' AND actor = 'source:keyq'")" = 1 ] ||
	fail "the refused webhook is not in the audit trail"
pg_dump "$db" --data-only --no-owner >"$tmp/dump.sql" || fail "pg_dump"
grep -q "$planted_id" "$tmp/dump.sql" || fail "the dump does not hold the planted delivery"
private_key_line=$(sed -n 2p "$tmp/sk.pem")
for secret in "$key" "$callback_secret" "$(cat "$tmp/token-a")" "$(cat "$tmp/token-b")" \
	"$planted_auth" "$planted_cookie" "$planted_sig" "$planted_query" "$private_key_line" \
	"$planted_cred" "$secrets_key"; do
	[ ${#secret} -ge 16 ] || fail "a planted secret is too short to mean anything: '$secret'"
	if grep -lF -- "$secret" "$tmp/dump.sql" "$tmp/ingress.log" "$tmp"/worker-*.log "$tmp/answers.txt"; then
		fail "a secret (${secret:0:12}...) is in the files above"
	fi
done
echo "secrets: 11 planted, none in $(wc -l <"$tmp/dump.sql") lines of the database's dump, the services' logs or the API's answers"
if grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$tmp"/*.log; then
	fail "a sanitizer report (above: the logs that hold one)"
fi
echo "bulk_jobs: OK"
