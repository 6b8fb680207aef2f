#!/usr/bin/env python3
"""Plans the TWIGZ migrations with a dry run, then runs them for real and follows their progress.

    python3 dry_run_then_run.py [--addr HOST:PORT] [--token-file F] [--tls-ca F [--tls-cert F --tls-key F]]
                                [--batch-size N] [--poll SECONDS] [NAME...]

No NAME: every migration. The token comes from --token-file or TWIGZ_AUTH_TOKEN; the address from
--addr or TWIGZ_MIGRATIONS_ADDR (default 127.0.0.1:50051).
Exit status: 0 every migration SUCCEEDED (or was already done), 1 one ended FAILED or CANCELED,
2 bad arguments, 3 a call to the service failed.
"""
import argparse
import os
import sys

try:
    from twigz_migrations_client import MigrationsClient, MigrationsError, MigrationState
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from twigz_migrations_client import MigrationsClient, MigrationsError, MigrationState


def say(line=""):
    print(line, flush=True)


def describe(status):
    line = f"{status.name}: {status.state.name} {status.processed}/{status.total}"
    if status.state.finished:
        line += f", {status.updated} updated"
    if status.error:
        line += f": {status.error}"
    return line


def dry_run(client, names, batch_size):
    planned = client.run(names, dry_run=True, batch_size=batch_size)
    say(f"dry run {planned.run_id}: nothing written")
    for m in planned.migrations:
        if m.skipped:
            say(f"  {m.name}: already done, would be skipped")
            continue
        say(f"  {m.name}: {m.updated} of {m.total} documents would change")
        for sample in m.samples:
            say(f"    {sample}")


def real_run(client, names, batch_size, poll):
    started = client.run(names, batch_size=batch_size, async_=True)
    say(f"run {started.run_id} started: {', '.join(m.name for m in started.migrations)}")
    last = {}

    def progress(statuses):
        for s in statuses:
            seen = (s.state, s.processed, s.updated, s.run_id)
            if last.get(s.name) != seen:
                last[s.name] = seen
                say(f"  {describe(s)}")

    final = client.wait([m.name for m in started.migrations], poll, run_id=started.run_id, on_progress=progress)
    skipped = {m.name for m in started.migrations if m.skipped}
    done = sum(s.state is MigrationState.SUCCEEDED for s in final)
    failed = [s for s in final if s.state in (MigrationState.FAILED, MigrationState.CANCELED)]
    say(f"done: {done} succeeded ({len(skipped)} already done), {len(failed)} failed or canceled")
    return not failed


def main(argv=None):
    parser = argparse.ArgumentParser(description="Dry run, then run, the TWIGZ migrations.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="migrations to run (default: all)")
    parser.add_argument("--addr", default=os.environ.get("TWIGZ_MIGRATIONS_ADDR", "127.0.0.1:50051"))
    parser.add_argument("--token-file", help="file holding the bearer token (default: $TWIGZ_AUTH_TOKEN)")
    parser.add_argument("--tls-ca", help="CA certificate (PEM) that signed the server's: turns TLS on")
    parser.add_argument("--tls-cert", help="client certificate (PEM) for mutual TLS")
    parser.add_argument("--tls-key", help="client key (PEM) for mutual TLS")
    parser.add_argument("--batch-size", type=int, default=0, help="documents per batch (default: the server's)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between Status polls")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.poll <= 0:
        parser.error("--poll must be positive")

    token = os.environ.get("TWIGZ_AUTH_TOKEN")
    try:
        if args.token_file:
            with open(args.token_file) as f:
                token = f.read()
        client = MigrationsClient(args.addr, token, root_certificates=args.tls_ca,
                                  certificate_chain=args.tls_cert, private_key=args.tls_key)
    except (OSError, ValueError) as e:
        parser.error(str(e))

    with client:
        try:
            dry_run(client, args.names, args.batch_size)
            ok = real_run(client, args.names, args.batch_size, args.poll)
        except (MigrationsError, ValueError) as e:
            say(f"error: {e}")
            return 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
