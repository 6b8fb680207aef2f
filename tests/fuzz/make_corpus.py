#!/usr/bin/env python3
"""Writes the committed seed corpora under tests/fuzz/corpus/<harness>/ (run it after a proto change).

Seeds are small valid inputs a fuzzer would take long to find on its own: real requests in protobuf
text format encoded by protoc, descriptor sets made by protoc, names with the UTF-8 cases usernames/derive.h
singles out, and BSON documents holding names of several types. Each file is named after what it is.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import bson

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../.."))
PROTO = os.path.join(ROOT, "proto")
SERVICE_PROTO = "twigz/migrations/v1/migration_service.proto"
REFLECTION_PROTO = "grpc/reflection/v1/reflection.proto"
HEALTH_PROTO = "grpc/health/v1/health.proto"


def encode(proto, message, text):
    p = subprocess.run(["protoc", f"-I{PROTO}", "-I/usr/include", f"--encode={message}", proto],
                       input=text.encode(), capture_output=True, check=True)
    return p.stdout


def descriptor_set(proto_dir, protos, source_info=False):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "set.pb")
        cmd = ["protoc", f"-I{proto_dir}", "-I/usr/include", "--include_imports", f"--descriptor_set_out={out}"]
        if source_info:
            cmd.append("--include_source_info")
        subprocess.run(cmd + protos, check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


# A small proto with everything the indexer walks: nesting, enums, oneofs, extensions, services.
EVERYTHING_PROTO = """
syntax = "proto2";
package fuzz.seed;
import "google/protobuf/descriptor.proto";
extend google.protobuf.MethodOptions { optional string tag = 50001; }
message Outer {
  message Inner { enum Kind { KIND_A = 0; KIND_B = 1; } optional Kind kind = 1; }
  oneof choice { Inner inner = 1; string text = 2; }
  extensions 100 to 200;
}
extend Outer { optional int32 extra = 100; }
enum Top { TOP_ZERO = 0; }
service Seeds { rpc Get(Outer) returns (Outer) { option (tag) = "x"; } }
"""


def request_seeds():
    run, status, cancel = ("twigz.migrations.v1.RunRequest", "twigz.migrations.v1.StatusRequest",
                           "twigz.migrations.v1.CancelRequest")
    seeds = {
        "empty": b"",
        "run_one": encode(SERVICE_PROTO, run, 'names: "addStatusToStores"'),
        "run_all_names": encode(SERVICE_PROTO, run, " ".join(
            f'names: "{n}"' for n in ("addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers",
                                      "addPrivacyToCustomers"))),
        "run_options": encode(SERVICE_PROTO, run, 'names: "addUsernamesToCustomers" dry_run: true '
                                                  'batch_size: 500 rerun: true async: true'),
        "run_batch_max": encode(SERVICE_PROTO, run, "batch_size: 10000"),
        "run_batch_over": encode(SERVICE_PROTO, run, "batch_size: 10001"),
        "run_batch_negative": encode(SERVICE_PROTO, run, "batch_size: -1"),
        "run_repeated_name": encode(SERVICE_PROTO, run, 'names: "ensureStoreFields" names: "ensureStoreFields"'),
        "run_unknown_name": encode(SERVICE_PROTO, run, 'names: "dropEverything"'),
        "run_invalid_utf8": b"\x0a\x04ab\xff\xfe",
        "status_pending": encode(SERVICE_PROTO, status, 'names: "addPrivacyToCustomers" include_pending: true'),
        "cancel": encode(SERVICE_PROTO, cancel, 'name: "addStatusToStores"'),
        "health_check": encode(HEALTH_PROTO, "grpc.health.v1.HealthCheckRequest",
                               'service: "twigz.migrations.v1.MigrationService"'),
    }
    return seeds


def reflection_seeds():
    req = "grpc.reflection.v1.ServerReflectionRequest"
    texts = {
        "list_services": 'host: "localhost" list_services: "*"',
        "file_by_filename": f'file_by_filename: "{SERVICE_PROTO}"',
        "file_by_filename_missing": 'file_by_filename: "no/such.proto"',
        "symbol_service": 'file_containing_symbol: "twigz.migrations.v1.MigrationService"',
        "symbol_method": 'file_containing_symbol: "twigz.migrations.v1.MigrationService.Run"',
        "symbol_field_dotted": 'file_containing_symbol: ".twigz.migrations.v1.MigrationStatus.cursor"',
        "symbol_enum_value": 'file_containing_symbol: "twigz.migrations.v1.MIGRATION_STATE_RUNNING"',
        "symbol_package": 'file_containing_symbol: "grpc.reflection"',
        "extension": 'file_containing_extension { containing_type: "google.protobuf.FileOptions" '
                     'extension_number: 1 }',
        "extension_numbers": 'all_extension_numbers_of_type: "google.protobuf.MethodOptions"',
        "extension_numbers_not_message": 'all_extension_numbers_of_type: "twigz.migrations.v1.MigrationState"',
    }
    seeds = {name: encode(REFLECTION_PROTO, req, text) for name, text in texts.items()}
    seeds["nothing_asked"] = b""
    return seeds


def reflection_index_seeds():
    seeds = {
        "empty_set": b"",
        "health": descriptor_set(PROTO, [HEALTH_PROTO]),
        "reflection_v1": descriptor_set(PROTO, [REFLECTION_PROTO]),
        "health_with_source_info": descriptor_set(PROTO, [HEALTH_PROTO], source_info=True),
    }
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "everything.proto"), "w") as f:
            f.write(EVERYTHING_PROTO)
        full = descriptor_set(d, ["everything.proto"])
        seeds["everything_with_descriptor_proto"] = full
        # The same file alone: its import is missing, which the indexer must refuse.
        seeds["everything_missing_import"] = descriptor_set_without_imports(d, "everything.proto")
    return seeds


def descriptor_set_without_imports(proto_dir, proto):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "set.pb")
        subprocess.run(["protoc", f"-I{proto_dir}", "-I/usr/include", f"--descriptor_set_out={out}", proto],
                       check=True, capture_output=True)
        with open(out, "rb") as f:
            return f.read()


def username_seeds():
    texts = {
        "ascii": b"John Doe",
        "digits_and_punctuation": b"j.o-h_n 2024!",
        "long": b"Maximilian Alexander von Humboldt",
        "dotted_capital_i": "İstanbul".encode(),
        "kelvin_sign": "\u212aelvin".encode(),
        "accents_only": "éàü".encode(),
        "emoji": "😀 Ana".encode(),
        "nul_inside": b"an\x00na",
        "overlong_a": b"\xc1\xa1bc",
        "truncated_dotted_i": b"\xc4abc",
        "truncated_kelvin": b"\xe2\x84abc",
        "kelvin_after_bad_lead": b"\xf0\xe2\x84\xaaz",
        "surrogate": b"\xed\xa0\x80x",
        "lone_continuation": b"\x80\xbfa",
        "empty": b"",
    }
    seeds = dict(texts)
    docs = {
        "bson_name_string": {"name": "Jane Roe"},
        "bson_name_int": {"name": 42},
        "bson_name_null": {"name": None},
        "bson_name_array": {"name": ["a", "b"]},
        "bson_nested": {"customer": {"name": "İ\u212a"}},
    }
    for name, doc in docs.items():
        seeds[name] = bson.encode(doc)
    # {name: Symbol("Ann")}: BSON type 0x0E, which pymongo no longer writes.
    seeds["bson_symbol"] = b"\x13\x00\x00\x00\x0ename\x00\x04\x00\x00\x00Ann\x00\x00"
    return seeds


def write(harness, seeds):
    d = os.path.join(HERE, "corpus", harness)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{harness}: {len(seeds)} seeds, {sum(len(s) for s in seeds.values())} bytes")


def main():
    write("fuzz_request", request_seeds())
    write("fuzz_reflection", reflection_seeds())
    write("fuzz_reflection_index", reflection_index_seeds())
    write("fuzz_username", username_seeds())


if __name__ == "__main__":
    sys.exit(main())
