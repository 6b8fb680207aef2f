"""The one exception MigrationsClient raises for a failed call."""
from __future__ import annotations

import grpc


class MigrationsError(Exception):
    """A MigrationService call failed; `code` is the gRPC status code the caller can act on.

    Typical codes: INVALID_ARGUMENT (unknown migration name, batch size or another control out of
    range), FAILED_PRECONDITION (Cancel or Pause of a migration that is not running, Resume of one that
    is not paused, Tune of one that is not QUEUED, RUNNING or PAUSED), UNAUTHENTICATED (missing or
    wrong token), UNAVAILABLE (service or database unreachable: retry), DEADLINE_EXCEEDED (the call
    or wait() ran out of time).
    """

    def __init__(self, code: grpc.StatusCode, details: str, method: str = "") -> None:
        self.code = code
        self.details = details
        self.method = method
        where = f"{method}: " if method else ""
        super().__init__(f"{where}{code.name}: {details}")

    @property
    def retriable(self) -> bool:
        """True for codes where trying again later may succeed."""
        return self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED,
                             grpc.StatusCode.RESOURCE_EXHAUSTED)
