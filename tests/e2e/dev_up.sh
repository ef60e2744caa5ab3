#!/usr/bin/env bash
# End to end: README's first command. Runs deploy/dev/up as a user would (its own process
# group, as in a terminal) with a run directory and ports of its own, waits for its banner,
# pastes the copy-paste examples it prints (a signed webhook, twice: 202 then the duplicate's
# 200 with the same id; the psql query; the versori-sim activation; the trigger callback that
# the workers turn into an activation, with its SQL and `hookrun jobs show`), then presses Ctrl-C
# (SIGINT to the group) and checks that everything it started has stopped.
#
#   tests/e2e/dev_up.sh SOURCE_ROOT BUILD_ROOT
#
# Every wait has a deadline; on any failure the script stops the group and the cluster.
set -euo pipefail

src=${1:?usage: dev_up.sh SOURCE_ROOT BUILD_ROOT}
build=${2:?usage: dev_up.sh SOURCE_ROOT BUILD_ROOT}

tmp=$(mktemp -d /tmp/hookrun-e2e.XXXXXX)
chmod 755 "$tmp"
run=$tmp/run
log=$tmp/up.log
pid=

fail() {
	echo "dev_up: FAIL: $*" >&2
	if [ -n "$pid" ]; then
		echo "---- processes in its group ----" >&2
		ps -o pid=,stat=,args= -g "$pid" >&2 || true
	fi
	echo "---- deploy/dev/up output ----" >&2
	cat "$log" >&2 2>/dev/null || true
	exit 1
}

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	"$src/deploy/dev/pg" stop "$run/pg" immediate >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS WHAT CMD...: run CMD every 0.1 s until it succeeds or the deadline passes.
wait_for() {
	local deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no $what within the deadline"
		sleep 0.1
	done
}

# The lines of the banner between the line matching $1 and the next blank line, unindented.
block_after() {
	awk -v start="$1" 'index($0, start) { on = 1; getline; next } on && /^$/ { exit } on' "$log" |
		sed 's/^  //'
}

: >"$log"
# deploy/dev/up in a session of its own: its PID is its process group, as a shell's job is.
HOOKRUN_DEV_RUN_DIR=$run HOOKRUN_DEV_BUILD_DIR=$build \
	HOOKRUN_DEV_PORT=$(free_port) VERSORI_SIM_DEV_PORT=$(free_port) \
	setsid "$src/deploy/dev/up" >"$log" 2>&1 </dev/null &
pid=$!

up_ready() {
	kill -0 "$pid" 2>/dev/null || fail "deploy/dev/up exited before its banner"
	grep -q '^Ctrl-C stops everything' "$log"
}
wait_for 300 "banner from deploy/dev/up" up_ready
echo "dev_up: banner after ${SECONDS}s"

url=$(sed -n 's/^  ingress   \(http:[^ ]*\) .*/\1/p' "$log")
[ -n "$url" ] || fail "no ingress URL in the banner"
curl -fsS "$url/readyz" >/dev/null || fail "$url/readyz is not 200"

# 1. The signed webhook, pasted as printed: 202 and a delivery id, then the duplicate.
hook=$(block_after 'Send a signed webhook (copy-paste):')
[ -n "$hook" ] || fail "no webhook example in the banner"
first=$(bash -c "$hook") || fail "the webhook example failed: $first"
id=$(sed -n 's/^{"delivery_id":"\([0-9a-f-]\{36\}\)"}$/\1/p' <<<"$first")
[ -n "$id" ] || fail "the webhook example answered '$first', not a delivery id"
again=$(bash -c "$hook") || fail "the webhook example failed the second time: $again"
if ! grep -q "\"delivery_id\":\"$id\"" <<<"$again" || ! grep -q '"duplicate":true' <<<"$again"; then
	fail "the same Idempotency-Key answered '$again', not the duplicate of $id"
fi
echo "dev_up: webhook stored as $id; resent: duplicate"

# 2. The query it suggests shows the row, payload decoded.
query=$(sed -n 's/^Then look at it: //p' "$log")
[ -n "$query" ] || fail "no psql example in the banner"
rows=$(bash -c "$query") || fail "the psql example failed: $rows"
if ! grep -q "$id" <<<"$rows" || ! grep -q 'acme-42' <<<"$rows"; then
	fail "the psql example does not show delivery $id: $rows"
fi
[ "$(grep -c '^ [0-9a-f]\{8\}-' <<<"$rows")" = 1 ] || fail "expected exactly one row: $rows"

# 3. The versori-sim example: creates the end user and the activation, then shows the state.
sim=$(block_after 'Provision an activation against it')
[ -n "$sim" ] || fail "no versori-sim example in the banner"
out=$(bash -c "$sim") || fail "the versori-sim example failed: $out"
grep -q '"error"' <<<"$out" && fail "the versori-sim example got an error: $out"
state=$(tail -n 1 <<<"$out")
python3 -c '
import json, sys
s = json.loads(sys.argv[1])
text = json.dumps(s)
assert "acme-42" in text and "fluent-acme-42" in text, "activation not in the state"
' "$state" || fail "the simulator's state after the example: $state"
echo "dev_up: versori-sim activation provisioned"

# 4. The trigger callback, pasted as printed: 202, then the workers provision the activation;
#    the SQL it suggests shows the item succeeded, and `hookrun jobs show` the job.
trigger=$(block_after 'Provision an activation through hookrun')
[ -n "$trigger" ] || fail "no trigger callback example in the banner"
first=$(bash -c "$trigger") || fail "the trigger callback example failed: $first"
grep -q '^{"delivery_id":"' <<<"$first" || fail "the trigger callback answered '$first'"
look=$(block_after 'Its job, its item and the audit rows')
[ -n "$look" ] || fail "no job query in the banner"
job_done() {
	rows=$(bash -c "$(head -n 1 <<<"$look")" 2>&1) || return 1
	grep -q 'acme-43 *| succeeded' <<<"$rows"
}
wait_for 60 "succeeded item for acme-43" job_done
shown=$(bash -c "$(sed -n 2p <<<"$look")") || fail "hookrun jobs show failed: $shown"
grep -q '1 succeeded' <<<"$shown" || fail "hookrun jobs show: $shown"
audit=$(bash -c "$(head -n 1 <<<"$look")") || fail "the job query failed"
grep -q '/activations' <<<"$audit" || fail "no audited API call in: $audit"
echo "dev_up: trigger callback provisioned acme-43 through the workers"

# 4b. The jobs API example, pasted as printed: a token made by the CLI, then POST /v1/jobs
#     answers 202 with a job id, and the workers provision acme-44.
api=$(block_after 'Or submit a job over the jobs API')
[ -n "$api" ] || fail "no jobs API example in the banner"
out=$(bash -c "$api" 2>/dev/null) || fail "the jobs API example failed: $out"
grep -q '^{"job_id":"[0-9a-f-]\{36\}","duplicate":false,"items":1,"skipped":0}$' <<<"$out" ||
	fail "POST /v1/jobs answered '$out'"
api_done() {
	rows=$(bash -c "$(head -n 1 <<<"$look")" 2>&1) || return 1
	grep -q 'acme-44 *| succeeded' <<<"$rows"
}
wait_for 60 "succeeded item for acme-44" api_done
echo "dev_up: the jobs API provisioned acme-44 through the workers"

# 4c. The CSV import example, pasted as printed (it reuses 4b's token file): the CLI watches
#     the job to its end on a pipe and says it succeeded.
csv=$(block_after 'Or import customers from a spreadsheet')
[ -n "$csv" ] || fail "no CSV import example in the banner"
out=$(timeout 120 bash -c "$csv" 2>&1) || fail "the CSV import example failed: $out"
grep -q '^job [0-9a-f-]\{36\} submitted (2 items)$' <<<"$out" || fail "jobs submit printed '$out'"
grep -q '^job [0-9a-f-]\{36\} succeeded$' <<<"$out" || fail "the CSV job did not succeed: '$out'"
echo "dev_up: the CSV import example provisioned acme-45 and acme-46"

# 4d. The audit example: everything so far sealed, and the chain verifies.
audit=$(block_after 'Check the audit trail')
[ -n "$audit" ] || fail "no audit example in the banner"
out=$(timeout 60 bash -c "$audit" 2>&1) || fail "the audit example failed: $out"
grep -q '^audit chain intact: blocks 1-' <<<"$out" || fail "audit verify printed '$out'"
echo "dev_up: the audit chain verifies ($(tail -n 1 <<<"$out"))"

# 5. Ctrl-C: SIGINT to the whole group, as the terminal sends it.
pg_pid=$(head -n 1 "$run/pg/data/postmaster.pid")
kill -INT -- "-$pid"
stopped() { ! kill -0 "$pid" 2>/dev/null; }
wait_for 60 "exit of deploy/dev/up after Ctrl-C" stopped
wait "$pid" 2>/dev/null || true
grep -q '^stopped\.$' "$log" || fail "deploy/dev/up did not say 'stopped.'"
# The terminal's SIGINT reaches the script alone (the ingress runs as a background job, with
# SIGINT ignored): the ingress gets the script's one SIGTERM and drains, rather than taking
# SIGINT and SIGTERM as "stop now".
n_signals=$(grep -c 'svc=ingress event=ingress.signal' "$log" || true)
[ "$n_signals" = 1 ] || fail "the ingress got $n_signals signals on Ctrl-C, not 1"
grep -q 'svc=ingress event=ingress.signal signal=Terminated' "$log" ||
	fail "the ingress was not stopped by SIGTERM"
grep -q 'svc=ingress event=ingress.drained' "$log" || fail "the ingress did not drain on Ctrl-C"
# Whatever deploy/dev/up started is gone (zombies waiting for a reaper count as gone).
group_empty() { ! ps -o stat= -g "$pid" 2>/dev/null | grep -v '^Z' >/dev/null; }
wait_for 30 "empty process group after Ctrl-C" group_empty
# The postmaster removes its PID file just before it exits, and nobody may have reaped it yet.
pg_gone() { case "$(ps -o stat= -p "$pg_pid" 2>/dev/null)" in "" | Z*) true ;; *) false ;; esac; }
wait_for 30 "exit of PostgreSQL ($pg_pid) after Ctrl-C" pg_gone
[ ! -e "$run/pg/data/postmaster.pid" ] || fail "postmaster.pid left behind"
pid=
echo "dev_up: Ctrl-C stopped versori-sim, the ingress (one SIGTERM, drained) and PostgreSQL"
echo "dev_up: OK"
