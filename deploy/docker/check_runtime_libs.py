#!/usr/bin/env python3
"""Checks deploy/docker/Dockerfile against binaries built on this (Debian bookworm) machine.

No Docker engine runs in CI, so instead of building the image this reads its Dockerfile and asks
dpkg what the image would hold: every shared library `ldd` shows for the binaries must belong to a
package the runtime stage installs or to one of those packages' dependencies (the closure of
Depends and Pre-Depends, read with dpkg-query from the packages installed here, which are the same
bookworm versions), and the runtime stage must install only packages that ship a library the
binaries load, plus those in EXTRA_RUNTIME_PACKAGES.

    python3 deploy/docker/check_runtime_libs.py [--dockerfile FILE] BINARY...

Exit status: 0 when both hold, 1 with one line per problem otherwise.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

DOCKERFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Dockerfile")

# Runtime packages no ldd can show, and why the image needs them.
EXTRA_RUNTIME_PACKAGES = {
    "ca-certificates": "mongoc verifies TLS connections to MongoDB against the system CA store",
}

# A sanitizer build (-DTM_SANITIZE=ON) links these runtimes (GCC adds libatomic for them); the image
# is never built that way.
SANITIZER_LIBRARY = re.compile(r"^lib(asan|ubsan|lsan|tsan|atomic)\.so")


def logical_lines(text):
    """Dockerfile lines with backslash continuations joined and comments dropped."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        out.append(current + line)
        current = ""
    if current:
        out.append(current)
    return out


def parse_dockerfile(text):
    """The stages: dicts with name, image (ARG defaults substituted) and instructions [(KEYWORD, rest)]."""
    args, stages = {}, []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append({"name": name, "image": image, "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, rest))
    return stages


def apt_installs(stage):
    """Every package an `apt-get install` of the stage's RUN instructions names."""
    packages = []
    for keyword, rest in stage["instructions"]:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", rest):
            words = shlex.split(command)
            words = [w for w in words if "=" not in w or w.startswith("-")]  # drop VAR=value prefixes
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                after = words[words.index("install") + 1 :]
                packages += [w for w in after if not w.startswith("-")]
    return packages


def ldd_libraries(binary):
    """Resolved paths of the shared libraries binary loads (the dynamic loader included)."""
    result = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ldd {binary} failed: {result.stderr.strip() or result.stdout.strip()}")
    paths = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise RuntimeError(f"{binary}: {line}")
        m = re.match(r"^\S+\s+=>\s+(/\S+)", line) or re.match(r"^(/\S+)\s+\(", line)
        if m:
            paths.append(m.group(1))
    return paths


def _path_variants(path):
    """path as dpkg may have recorded it: with merged /usr, under /lib or /usr/lib."""
    variants = []
    for p in (path, os.path.realpath(path)):
        variants += [p, p[4:] if p.startswith("/usr/") else "/usr" + p]
    return list(dict.fromkeys(variants))


def owning_packages(paths):
    """path -> the Debian package that ships it, in one dpkg call (each call reads dpkg's whole
    file list, so one per library would take seconds each)."""
    queries = sorted({v for p in paths for v in _path_variants(p)})
    result = subprocess.run(["dpkg", "-S", *queries], capture_output=True, text=True, check=False)
    shipped = {}
    # "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6"; "diversion by ..." lines are not owners.
    for line in result.stdout.splitlines():
        if line.startswith("diversion") or ": " not in line:
            continue
        owner, _, where = line.rpartition(": ")
        shipped[where.strip()] = owner.split(",")[0].split(":")[0].strip()
    owners = {}
    for p in paths:
        found = [shipped[v] for v in _path_variants(p) if v in shipped]
        if not found:
            raise RuntimeError(f"no installed package ships {p}")
        owners[p] = found[0]
    return owners


def _installed():
    """Installed packages: name -> (depends text, provides list)."""
    fmt = "${Package}\\t${Status}\\t${Depends}, ${Pre-Depends}\\t${Provides}\\n"
    out = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True).stdout
    packages, providers = {}, {}
    for line in out.splitlines():
        name, status, depends, provides = (line.split("\t") + ["", "", ""])[:4]
        if not status.endswith("installed") or "not-installed" in status:
            continue
        packages[name] = depends
        for p in provides.split(","):
            p = p.strip().split(" ")[0]
            if p:
                providers.setdefault(p, []).append(name)
    return packages, providers


def dependency_closure(roots):
    """roots plus everything they depend on, as installed here. An alternative (a | b) resolves to
    the first installed choice, a virtual package to its installed provider."""
    packages, providers = _installed()
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for clause in packages.get(name, "").split(","):
            choices = [re.sub(r"\s*\(.*?\)|:\w+", "", c).strip() for c in clause.split("|")]
            choices = [c for c in choices if c]
            for choice in choices:
                if choice in packages:
                    todo.append(choice)
                    break
                if choice in providers:
                    todo.append(providers[choice][0])
                    break
    return seen


def check(binaries, dockerfile_text, ignore_sanitizers=False):
    """Problems (strings); empty when the runtime stage fits the binaries."""
    stages = parse_dockerfile(dockerfile_text)
    if not stages:
        return ["the Dockerfile has no stage"]
    runtime = set(apt_installs(stages[-1]))
    closure = dependency_closure(runtime)
    problems, needed = [], set()
    loaded = {binary: ldd_libraries(binary) for binary in binaries}
    owners = owning_packages([lib for libs in loaded.values() for lib in libs])
    # A sanitizer runtime's own dependencies, unless the runtime stage provides them anyway.
    sanitizer_only = set()
    if ignore_sanitizers:
        runtimes = {
            owners[lib]
            for libs in loaded.values()
            for lib in libs
            if SANITIZER_LIBRARY.match(os.path.basename(lib))
        }
        sanitizer_only = dependency_closure(runtimes) - closure
    for binary, libs in loaded.items():
        for lib in libs:
            package = owners[lib]
            if package in sanitizer_only:
                continue
            needed.add(package)
            if package not in closure:
                problems.append(
                    f"{os.path.basename(binary)} loads {lib} from {package}, which the runtime stage does not install"
                )
    for package in sorted(runtime - needed - set(EXTRA_RUNTIME_PACKAGES)):
        problems.append(f"the runtime stage installs {package}, which no binary loads")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", default=DOCKERFILE)
    parser.add_argument("--ignore-sanitizers", action="store_true", help="skip libasan, libubsan...")
    parser.add_argument("binaries", nargs="+")
    opts = parser.parse_args(argv)
    with open(opts.dockerfile, encoding="utf-8") as f:
        problems = check(opts.binaries, f.read(), opts.ignore_sanitizers)
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s)" if problems else "runtime stage provides every library")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
