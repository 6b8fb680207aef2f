#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (-fsanitize=fuzzer,address,undefined).
#   tests/fuzz/build.sh [--out DIR]     (default DIR: build/fuzz; the harnesses land in DIR/bin)
# Self-contained on purpose: it generates the protobuf-c sources and the embedded descriptor set the
# same way CMakeLists.txt does, and compiles the few service sources the harnesses need, because
# every line of them must carry the fuzzer's coverage and the sanitizers, which the CMake build does
# not. Needs clang and libclang-rt-dev (deploy/local/setup.sh installs them).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/fuzz"
while [ $# -gt 0 ]; do
  case $1 in
  --out) out=$2; shift 2 ;;
  *) echo "usage: $0 [--out DIR]" >&2; exit 64 ;;
  esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "build.sh: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

# The same protos, in the same order, as TM_PROTOS in CMakeLists.txt.
protos=(twigz/migrations/v1/migration_service.proto grpc/health/v1/health.proto
  grpc/reflection/v1/reflection.proto grpc/reflection/v1alpha/reflection.proto)
# Generated into a scratch directory and copied over only what changed, so that unchanged sources
# keep their timestamps and their objects are not rebuilt.
gen="$out/gen"
fresh="$out/gen.new"
rm -rf "$fresh"
mkdir -p "$gen" "$fresh"
(cd "$root/proto" &&
  protoc-c -I. -I/usr/include --c_out="$fresh" "${protos[@]}" google/protobuf/timestamp.proto \
    google/protobuf/wrappers.proto \
    google/protobuf/descriptor.proto &&
  protoc -I. -I/usr/include --include_imports --include_source_info \
    --descriptor_set_out="$fresh/descriptor_set.pb" "${protos[@]}")
cmake -DIN="$fresh/descriptor_set.pb" -DOUT="$fresh/descriptor_set.c" -DNAME=tm_descriptor_set \
  -P "$root/cmake/embed.cmake"
sed -i "s#$fresh#$gen#" "$fresh/descriptor_set.c" # its comment names the input file
(cd "$fresh" && find . -type f) | while read -r f; do
  if ! cmp -s "$fresh/$f" "$gen/$f"; then
    mkdir -p "$(dirname "$gen/$f")"
    cp "$fresh/$f" "$gen/$f"
  fi
done
rm -rf "$fresh"

san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
cflags=(-std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Werror "${san[@]}"
  -I"$root/service" -I"$gen" $(pkg-config --cflags libprotobuf-c libbson-1.0))
libs=($(pkg-config --libs libprotobuf-c libbson-1.0))

# Service sources are instrumented for coverage (fuzzer-no-link); each becomes one object.
service_sources=(error.c log.c store/controls.c migrations/registry.c migrations/usernames/derive.c rpc/reflection.c rpc/reflection_answer.c util/utf8.c)
gen_sources=("$gen"/google/protobuf/*.pb-c.c "$gen"/grpc/health/v1/*.pb-c.c
  "$gen"/grpc/reflection/v1/*.pb-c.c "$gen"/twigz/migrations/v1/*.pb-c.c "$gen/descriptor_set.c")
objdir="$out/obj"
mkdir -p "$objdir" "$out/bin"
objects=()
compile() { # source, object, extra flags...
  local src=$1 obj=$2; shift 2
  objects+=("$obj")
  [ "$obj" -nt "$src" ] && [ "$obj" -nt "$0" ] && return 0
  "$CC" "${cflags[@]}" -fsanitize=fuzzer-no-link "$@" -c "$src" -o "$obj"
}
for s in "${service_sources[@]}"; do
  compile "$root/service/$s" "$objdir/$(echo "$s" | tr / _).o"
done
for s in "${gen_sources[@]}"; do
  compile "$s" "$objdir/gen_$(basename "$s").o" -Wno-unused-parameter
done

for harness in "$root"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$harness" .c)
  "$CC" "${cflags[@]}" -fsanitize=fuzzer "$harness" "${objects[@]}" "${libs[@]}" -o "$out/bin/$name"
done
echo "build.sh: harnesses in $out/bin: $(cd "$out/bin" && echo fuzz_*)"
