"""pytest fixtures: a fresh database server per test module (FerretDB, or mongo-java-server with
TM_TEST_SERVER=mongo-java), services started per test."""
import os
import shutil
import tempfile

import pytest

from harness import DatabaseServer, Proxy, Service


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
def slow_db(ferret):
    """A proxy to the module's server holding every reply 10 ms: a run of one-document batches
    through it lasts seconds on any machine, so a test can act on it while it runs."""
    proxy = Proxy(ferret.port)
    proxy.delay = 0.01
    yield proxy
    proxy.close()


@pytest.fixture
def db(ferret, request):
    """A database of the module's server named after the test, empty at the start."""
    name = f"e2e_{request.node.name[:40]}".replace("[", "_").replace("]", "_")
    client = ferret.client()
    client.drop_database(name)
    yield client[name]
    client.close()


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
