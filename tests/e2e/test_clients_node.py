"""The Node.js client library (clients/node) against the live service: its example, then its API.

Its dependencies come from the committed lockfile (`npm ci`), run here when node_modules is missing or
older than the lockfile (deploy/local/setup.sh normally has done it). API checks run small Node
scripts that print JSON, so what is asserted is what a Node caller sees.
"""
import json
import os
import shutil
import subprocess
import textwrap

import pytest

from harness import SOURCE, free_port
from test_clients_python import ALL, assert_backfilled, assert_example_output, seed
from harness import make_certificates

CLIENT_DIR = os.path.join(SOURCE, "clients", "node")
EXAMPLE = os.path.join(CLIENT_DIR, "examples", "dry_run_then_run.js")


@pytest.fixture(scope="module")
def node():
    """The node binary, with the client's dependencies installed from the lockfile."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node.js and npm are needed (deploy/local/setup.sh installs them)"
    lock = os.path.join(CLIENT_DIR, "package-lock.json")
    installed = os.path.join(CLIENT_DIR, "node_modules", ".package-lock.json")
    if not os.path.exists(installed) or os.path.getmtime(installed) < os.path.getmtime(lock):
        p = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENT_DIR,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
    return node


@pytest.fixture
def service(db, start_service):
    return start_service(database=db.name)


def run_example(node, address, *args):
    return subprocess.run([node, EXAMPLE, "--addr", address, "--poll", "0.1", *args],
                          capture_output=True, text=True, timeout=120)


def run_js(node, body, **env):
    """Runs an async JS body with `client` (the package) and `env` in scope; returns what it printed as JSON."""
    script = ("const lib = require('.');\n"
              "const env = JSON.parse(process.env.TM_JS_ENV);\n"
              "(async () => {\n" + textwrap.indent(textwrap.dedent(body), "  ") + "\n})()"
              ".catch((e) => { console.error(e); process.exit(1); });\n")
    p = subprocess.run([node, "-e", script], cwd=CLIENT_DIR, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, TM_JS_ENV=json.dumps(env)))
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


# JS that prints how a call failed: the MigrationsError's fields.
CAUGHT = """
    const caught = (e) => {
      if (!(e instanceof lib.MigrationsError)) throw e;
      return { code: e.code, codeName: e.codeName, details: e.details, method: e.method, retriable: e.retriable };
    };
"""

# --- the example ---


def test_example_dry_runs_then_runs_and_backfills_everything(node, db, service):
    seed(db)
    p = run_example(node, service.address, "--batch-size", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    assert_example_output(p.stdout)
    assert_backfilled(db)


def test_example_with_an_unknown_name_says_why_and_exits_3(node, service):
    p = run_example(node, service.address, "noSuchMigration")
    assert p.returncode == 3, p.stdout + p.stderr
    assert p.stdout.startswith("error: Run: INVALID_ARGUMENT: ") and "noSuchMigration" in p.stdout, p.stdout


def test_example_with_a_bad_flag_exits_2(node):
    p = subprocess.run([node, EXAMPLE, "--batch-size", "many"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--batch-size" in p.stderr, p.stderr


# --- the API ---


def test_history_pages_the_runs_newest_first_with_their_caller(node, db, service):
    seed(db)
    got = run_js(node, """
        const client = new lib.MigrationsClient(env.address);
        const first = await client.run({ names: 'addPrivacyToCustomers' });
        const second = await client.run({ names: 'addPrivacyToCustomers', rerun: true, batchSize: 3 });
        const page = await client.history({ name: 'addPrivacyToCustomers', pageSize: 1 });
        const rest = await client.history({ name: 'addPrivacyToCustomers', pageToken: page.nextPageToken });
        console.log(JSON.stringify({ first: first.runId, second: second.runId, page, rest }));
        client.close();
    """, address=service.address)
    (newest,), (oldest,) = got["page"]["runs"], got["rest"]["runs"]
    assert got["page"]["nextPageToken"] and not got["rest"]["nextPageToken"]
    assert (newest["runId"], newest["rerun"], newest["batchSize"]) == (got["second"], True, 3)
    assert oldest["runId"] == got["first"] and oldest["state"] == "SUCCEEDED" and oldest["updated"] == 4
    assert "grpc-node-js" in newest["caller"]["userAgent"] and newest["canceledBy"] is None
    assert newest["startedAt"] <= newest["finishedAt"]


def test_list_returns_the_migrations_in_registry_order(node, service):
    got = run_js(node, """
        const client = new lib.MigrationsClient(env.address);
        console.log(JSON.stringify(await client.list()));
        client.close();
    """, address=service.address)
    assert [m["name"] for m in got] == ALL
    assert got[1]["fields"] == [
        {"field": "status", "defaultValue": '"pending"', "derivedFrom": ""},
        {"field": "phoneNumberVerified", "defaultValue": "false", "derivedFrom": ""}]
    assert got[2]["fields"][0]["derivedFrom"] == "name" and got[2]["table"] == "customers"


def test_status_before_any_run_is_pending_with_live_counts(node, db, service):
    seed(db)
    got = run_js(node, """
        const client = new lib.MigrationsClient(env.address);
        const counted = await client.status({ includePending: true });
        const named = await client.status({ names: 'addPrivacyToCustomers' });
        console.log(JSON.stringify({ counted, named }));
        client.close();
    """, address=service.address)
    assert [(s["name"], s["state"], s["pending"]) for s in got["counted"]] == [
        (n, "PENDING", p) for n, p in zip(ALL, [3, 4, 4, 4])]
    assert [(s["name"], s["pending"]) for s in got["named"]] == [("addPrivacyToCustomers", None)]


def test_wait_follows_an_async_run_to_its_end(node, db, service):
    seed(db)
    got = run_js(node, """
        const client = new lib.MigrationsClient(env.address);
        const started = await client.run({ async: true, batchSize: 1 });
        let polls = 0;
        const final = await client.wait({ runId: started.runId, pollMs: 50, timeoutMs: 60000, onProgress: () => polls++ });
        console.log(JSON.stringify({ started, final, polls,
          finishedIsDate: final.every((s) => s.finishedAt instanceof Date && s.startedAt <= s.finishedAt) }));
        client.close();
    """, address=service.address)
    run_id = got["started"]["runId"]
    assert run_id and [m["name"] for m in got["started"]["migrations"]] == ALL
    assert [(s["name"], s["state"], s["runId"]) for s in got["final"]] == [(n, "SUCCEEDED", run_id) for n in ALL]
    assert [s["updated"] for s in got["final"]] == [3, 3, 4, 4]
    assert got["polls"] >= 1 and got["finishedIsDate"]
    assert_backfilled(db)


def test_failed_calls_reject_with_the_grpc_code(node, service):
    got = run_js(node, CAUGHT + """
        const client = new lib.MigrationsClient(env.address);
        const unknown = await client.status({ names: ['nope'] }).catch(caught);
        const batch = await client.run({ batchSize: 10001 }).catch(caught);
        const idle = await client.cancel('addStatusToStores').catch(caught);
        client.close();
        const gone = new lib.MigrationsClient(env.unreachable, { timeoutMs: 10000 });
        const unreachable = await gone.list().catch(caught);
        gone.close();
        console.log(JSON.stringify({ unknown, batch, idle, unreachable }));
    """, address=service.address, unreachable=f"127.0.0.1:{free_port()}")
    assert got["unknown"]["codeName"] == "INVALID_ARGUMENT" and got["unknown"]["code"] == 3
    assert got["unknown"]["method"] == "Status" and "nope" in got["unknown"]["details"]
    assert got["batch"]["codeName"] == "INVALID_ARGUMENT"
    assert got["idle"]["codeName"] == "FAILED_PRECONDITION"
    assert got["unreachable"]["codeName"] == "UNAVAILABLE" and got["unreachable"]["retriable"] is True


def test_the_token_is_sent_as_a_bearer_header(node, workdir, db, start_service):
    token_file = os.path.join(workdir, "node-client-token")
    with open(token_file, "w") as f:
        f.write("node-client-token\n")
    svc = start_service("--auth-token-file", token_file, database=db.name)
    got = run_js(node, CAUGHT + """
        const anonymous = new lib.MigrationsClient(env.address);
        const wrong = new lib.MigrationsClient(env.address, { token: 'wrong' });
        const right = new lib.MigrationsClient(env.address, { token: 'node-client-token\\n' });
        const out = {
          anonymous: await anonymous.list().catch(caught),
          wrong: await wrong.list().catch(caught),
          right: (await right.list()).length,
        };
        [anonymous, wrong, right].forEach((c) => c.close());
        console.log(JSON.stringify(out));
    """, address=svc.address)
    assert got["anonymous"]["codeName"] == "UNAUTHENTICATED"
    assert got["wrong"]["codeName"] == "UNAUTHENTICATED"
    assert got["right"] == 4


def test_example_over_mutual_tls(node, workdir, db, start_service):
    d = os.path.join(workdir, "node-client-certs")
    os.makedirs(d, exist_ok=True)
    c = make_certificates(d)
    svc = start_service("--tls-cert", c["server.pem"], "--tls-key", c["server.key"], "--tls-client-ca", c["ca.pem"],
                        database=db.name)
    seed(db)
    p = run_example(node, svc.address, "--tls-ca", c["ca.pem"], "--tls-cert", c["client.pem"],
                    "--tls-key", c["client.key"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert_example_output(p.stdout)
    p = run_example(node, svc.address, "--tls-ca", c["ca.pem"])
    assert p.returncode == 3 and p.stdout.startswith("error: Run: UNAVAILABLE"), p.stdout + p.stderr
