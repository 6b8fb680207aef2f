"""Prometheus metrics, scraped from the real service and parsed with prometheus_client's parser."""
import urllib.error
import urllib.request

import grpc
import pytest

from harness import call, grpcurl

SERVICE = "twigz.migrations.v1.MigrationService"


def labels(**kw):
    return tuple(sorted(kw.items()))


def test_rpc_counters_follow_calls_by_method_and_code(start_service):
    svc = start_service()
    for _ in range(3):
        call(svc.address, "List")
    with grpc.insecure_channel(svc.address) as channel:
        with pytest.raises(grpc.RpcError):
            channel.unary_unary(f"/{SERVICE}/Run")(b"\xff\xff", timeout=10)
    m = svc.metrics()
    base = dict(grpc_type="unary", grpc_service=SERVICE, grpc_method="List")
    assert m[("grpc_server_started_total", labels(**base))] == 3
    assert m[("grpc_server_handled_total", labels(**base, grpc_code="OK"))] == 3
    assert m[("grpc_server_handling_seconds_count", labels(**base))] == 3
    assert m[("grpc_server_handling_seconds_bucket", labels(**base, le="+Inf"))] == 3
    assert m[("grpc_server_msg_sent_total", labels(**base))] == 3
    run = dict(grpc_type="unary", grpc_service=SERVICE, grpc_method="Run")
    assert m[("grpc_server_handled_total", labels(**run, grpc_code="InvalidArgument"))] == 1


def test_migration_series_exist_for_every_registered_migration(start_service):
    svc = start_service()
    m = svc.metrics()
    for name in ("addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"):
        assert ("migration_documents_processed_total", labels(migration=name)) in m
        assert ("migration_documents_updated_total", labels(migration=name)) in m
        assert ("migration_last_success_timestamp_seconds", labels(migration=name)) in m
        for state in ("PENDING", "QUEUED", "RUNNING", "CANCELING", "SUCCEEDED", "FAILED", "CANCELED",
                      "INTERRUPTED"):
            assert ("migration_state", labels(migration=name, state=state)) in m


def test_only_get_metrics_is_served(start_service):
    svc = start_service()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{svc.metrics_address}/other", timeout=10)
    assert e.value.code == 404


def test_an_empty_metrics_listen_turns_the_endpoint_off(start_service):
    svc = start_service("--metrics-listen", "")
    assert svc.metrics_address == ""
