#!/usr/bin/env python3
"""Run the README's audit cookbook against a database an e2e run filled, and check answers.

    audit_cookbook.py DB_URL README external_id=... failed_job=... token=...

Every ```sql block of the "### Audit cookbook" section is run with psql as it is printed,
its \\set lines replaced by the values given here (psql -v), and its rows (CSV) checked
against what bulk_jobs.sh did: a query that fails, or an answer that is not what the run
implies, fails the test. Prints one line per question.
"""
import csv
import io
import re
import subprocess
import sys


def blocks(readme):
    text = open(readme, encoding="utf-8").read()
    start = text.index("### Audit cookbook")
    end = text.index("\n## ", start)
    section = text[start:end]
    return [
        (title.strip(), sql)
        for title, sql in re.findall(r"\*\*(\d+\.[^*]*)\*\*\s*\n\s*```sql\n(.*?)```", section, re.S)
    ]


def run(db, sql, variables):
    body = "\n".join(l for l in sql.splitlines() if not l.startswith("\\set "))
    args = ["psql", db, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1"]
    for k, v in variables.items():
        args += ["-v", "%s=%s" % (k, v)]
    p = subprocess.run(args, input=body, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("psql failed: " + p.stderr.strip())
    return list(csv.DictReader(io.StringIO(p.stdout)))


def check(n, rows, v):
    """Assert what question n must answer after bulk_jobs.sh."""
    if n == 1:  # u-17: provisioned by the first job, the second (a no-op) and the webhook's
        assert len(rows) >= 3, rows
        assert all(r["worker"] for r in rows), rows
        assert any(r["submitted_by"].startswith("token:") for r in rows), rows
        assert any(r["submitted_by"] == "source:activate" for r in rows), rows
    elif n == 2:
        assert len(rows) >= 3 and all(r["state"] == "succeeded" for r in rows), rows
        assert all('"retailerId": "r-17"' in r["variables"] for r in rows), rows
        assert len({r["activation_id"] for r in rows}) == 1, "one activation: %s" % rows
    elif n == 3:  # the job whose activation creates were refused for good
        assert len(rows) == 1, rows
        r = rows[0]
        assert r["items"] == "3" and r["last_call_status"] == "500", r
        assert r["last_call_op"] == "activation.create", r
        assert r["reason"].endswith("simulated server error"), r
    elif n == 4:
        states = {r["state"] for r in rows}
        assert {"succeeded", "failed", "cancelled"} <= states, states
        done = [r for r in rows if r["state"] == "succeeded"]
        assert all(r["percent_done"] == "100.0" for r in done), done
    elif n == 5:
        ops = {r["op"]: r for r in rows}
        assert ops, rows
        assert all(r["p50_ms"] for r in rows), rows
        assert sum(int(r["status_5xx"]) for r in rows) > 0, "the 10 % 5xx run shows"
    elif n == 6:
        assert sum(int(r["calls"]) for r in rows) > 0, rows
        assert all(int(r["status"]) >= 500 or r["status"] == "429" for r in rows), rows
    elif n == 7:
        # the killed worker's items went back to the queue when their leases expired
        assert rows and all(int(r["attempt"]) > 1 for r in rows), rows
    elif n == 8:
        assert len(rows) == 1 and rows[0]["source"] == "activate", rows
        assert "externalId" in rows[0]["reason"], rows
    elif n == 9:
        got = {(r["source"], r["outcome"]): int(r["deliveries"]) for r in rows}
        assert got.get(("activate", "routed")) == 1, got
        assert got.get(("activate", "unroutable")) == 1, got
        assert got.get(("hooks", "stored"), 0) >= 1, got
    elif n == 10:
        names = {r["name"]: r for r in rows}
        assert int(names["importer"]["jobs"]) >= 5, names
        assert names["other"]["jobs"] == "0", names
    elif n == 11:
        demo = [r for r in rows if r["organisation"] == "demo"]
        assert demo and int(demo[0]["api_calls"]) > 0 and int(demo[0]["items_succeeded"]) > 0, rows
        assert int(demo[0]["items_failed"]) >= 3 and int(demo[0]["api_5xx"]) > 0, rows
    elif n == 12:
        assert len(rows) == 1 and int(rows[0]["last_block"]) >= 1, rows
        assert int(rows[0]["sealed_events"]) > 0, rows
    else:
        raise AssertionError("no check for question %d" % n)


def main():
    db, readme = sys.argv[1], sys.argv[2]
    variables = dict(a.split("=", 1) for a in sys.argv[3:])
    qs = blocks(readme)
    if len(qs) < 10:
        sys.exit("audit_cookbook: %d questions in the README, want at least 10" % len(qs))
    failed = 0
    for title, sql in qs:
        n = int(title.split(".")[0])
        v = dict(variables)
        if n == 3:
            v["job_id"] = variables["failed_job"]
        try:
            rows = run(db, sql, v)
            check(n, rows, v)
            print("cookbook %s: ok (%d rows)" % (title, len(rows)))
        except (AssertionError, KeyError, ValueError, IndexError) as e:
            failed += 1
            print("cookbook %s: FAILED: %s" % (title, e))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
