"""A typed Python client for twigz-migrations (gRPC service twigz.migrations.v1.MigrationService).

    from twigz_migrations_client import MigrationsClient

    with MigrationsClient("twigz-migrations:50051", token=os.environ.get("TWIGZ_AUTH_TOKEN")) as client:
        started = client.run(async_=True)
        final = client.wait(run_id=started.run_id)
"""
from .client import MigrationsClient
from .errors import MigrationsError
from .models import (Caller, ControlEvent, Controls, FailedDocument, FieldBackfill, HistoryPage, Migration,
                     MigrationState, MigrationStatus, RunRecord, RunResult, TuneResult)

__all__ = [
    "Caller",
    "ControlEvent",
    "Controls",
    "FailedDocument",
    "FieldBackfill",
    "HistoryPage",
    "Migration",
    "MigrationState",
    "MigrationStatus",
    "MigrationsClient",
    "MigrationsError",
    "RunRecord",
    "RunResult",
    "TuneResult",
]
__version__ = "1.0.0"
