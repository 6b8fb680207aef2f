#!/usr/bin/env bash
# Installs whatever this machine is missing to build, run and test twigz-migrations, and builds the
# pinned Go tools into .tools/bin. Idempotent: a second run checks and does nothing. Debian bookworm.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.tools/bin"
log() { printf 'setup: %s\n' "$*" >&2; }

apt_packages=(
  build-essential cmake pkg-config git
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
  libmongoc-dev libbson-dev libcriterion-dev libmicrohttpd-dev
  openssl clang-format python3 python3-pip valgrind
  yamllint # deploy/k8s manifests lint (tests/e2e/test_deploy_manifests.py)
  clang libclang-rt-14-dev # libFuzzer + sanitizer runtimes for tests/fuzz
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v go >/dev/null || { log "Go is required (1.21+) to build the pinned tools"; exit 1; }
mkdir -p "$bin"
# Rebuild a tool when its go.mod/go.sum or sources are newer than the binary.
stale() { # binary, module dir
  [ -x "$1" ] || return 0
  [ -n "$(find "$2" -newer "$1" -type f -print -quit)" ]
}
if stale "$bin/twigz-ferretdb" "$root/deploy/local/ferretdb"; then
  log "building FerretDB v1.24.2 (embedded main; the first build takes a few minutes)"
  (cd "$root/deploy/local/ferretdb" && go build -o "$bin/twigz-ferretdb" .)
fi
for tool in grpcurl grpc-health-probe ghz; do
  if stale "$bin/$tool" "$root/deploy/local/tools"; then
    log "building the pinned Go tools"
    (cd "$root/deploy/local/tools" && GOBIN="$bin" go install \
      github.com/fullstorydev/grpcurl/cmd/grpcurl \
      github.com/grpc-ecosystem/grpc-health-probe \
      github.com/bojand/ghz/cmd/ghz)
    break
  fi
done

if ! python3 -c 'import pytest, pymongo, grpc, prometheus_client' 2>/dev/null; then
  log "installing Python test helpers"
  python3 -m pip install -q --disable-pip-version-check -r "$root/tests/requirements.txt" 2>&1 |
    grep -v 'externally-managed\|root user' >&2 || true
  python3 -c 'import pytest, pymongo, grpc, prometheus_client' || python3 -m pip install -q --break-system-packages -r "$root/tests/requirements.txt"
fi
# --- clients: the Python and Node.js client libraries (clients/, tests/e2e/test_clients_*.py) ---
# Python: grpcio-tools at the pinned versions, then the stubs generated from proto/ (git ignores them).
clients_req="$root/clients/python/requirements.txt"
clients_pinned() { # exit 0 when every name==version in the file is installed at that version
  python3 - "$clients_req" <<'PY'
import importlib.metadata as md, sys
for line in open(sys.argv[1]):
    req = line.split("#")[0].strip()
    if req:
        name, version = req.split("==")
        try:
            assert md.version(name) == version
        except (md.PackageNotFoundError, AssertionError):
            sys.exit(1)
PY
}
if ! clients_pinned; then
  log "installing the Python client's build tools (grpcio-tools)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$clients_req" 2>&1 |
    grep -v 'externally-managed' >&2 || true
  clients_pinned || python3 -m pip install -q --root-user-action=ignore --break-system-packages -r "$clients_req"
fi
python3 "$root/clients/python/generate_stubs.py" >/dev/null
# Node.js: node and npm (Debian's when the machine has none), then npm ci from the committed lockfile
# whenever node_modules is missing or older than it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing Node.js and npm"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nodejs npm >/dev/null
fi
clients_node="$root/clients/node"
if [ ! -f "$clients_node/node_modules/.package-lock.json" ] ||
   [ "$clients_node/package-lock.json" -nt "$clients_node/node_modules/.package-lock.json" ]; then
  log "installing the Node.js client's dependencies (npm ci)"
  (cd "$clients_node" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
# --- end clients ---
# --- deploy/k8s validator ---
# The offline Kubernetes manifest validator's npm packages (deploy/k8s/validate), from its lockfile,
# only when node_modules is missing or older than the lockfile.
validate="$root/deploy/k8s/validate"
if [ ! -f "$validate/node_modules/.package-lock.json" ] ||
  [ "$validate/package-lock.json" -nt "$validate/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null || { log "Node.js and npm are required (18+) for the manifest validator"; exit 1; }
  log "installing the manifest validator's npm packages"
  (cd "$validate" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
fi
# --- end deploy/k8s validator ---
# --- benchmark harness (tests/bench): migrate-mongo for the smoke test; owner: tests/bench ---
if command -v npm >/dev/null && [ ! -x "$root/tests/bench/migrate-mongo/node_modules/.bin/migrate-mongo" ]; then
  log "installing migrate-mongo for the benchmark (npm ci, pinned by its package-lock.json)"
  (cd "$root/tests/bench/migrate-mongo" && npm ci --no-audit --no-fund --silent)
fi
# --- end benchmark harness ---
log "ready"
