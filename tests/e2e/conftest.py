"""pytest fixtures: a fresh database server per test module (FerretDB, or mongo-java-server with
TM_TEST_SERVER=mongo-java), services started per test."""
import os
import shutil
import tempfile

import pytest

from harness import DatabaseServer, Service


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="tm-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def ferret(workdir):
    db = DatabaseServer(workdir).start()
    yield db
    db.stop()


@pytest.fixture
def start_service(workdir, ferret, request):
    """Starts services on the module's FerretDB (or another URI); all are stopped after the test."""
    started = []

    def start(*args, env=None, mongodb_uri=None, database=None):
        db = database or f"e2e_{request.node.name[:40]}".replace("[", "_").replace("]", "_")
        svc = Service(workdir, mongodb_uri or ferret.uri, *args, env=env, database=db)
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()
