"""The container image, checked without a Docker engine: deploy/docker/Dockerfile against the binaries
CI built with the same packages (ldd and dpkg on this bookworm machine), deploy/local/setup.sh, the
Kubernetes manifests and .dockerignore.
"""
import fnmatch
import os
import pathlib
import re
import sys

import pytest

SOURCE = pathlib.Path(os.environ.get("TM_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(SOURCE / "deploy" / "docker"))
import check_runtime_libs as image  # noqa: E402

DOCKERFILE = SOURCE / "deploy" / "docker" / "Dockerfile"
BINARY = os.environ.get("TM_BINARY", "")
BUILD_DIR = pathlib.Path(os.environ.get("TM_BUILD_DIR", SOURCE / "build"))


def sanitized_build():
    cache = BUILD_DIR / "CMakeCache.txt"
    return cache.is_file() and re.search(r"^TM_SANITIZE:BOOL=ON$", cache.read_text(), re.M) is not None


def service_binary():
    if not (BINARY and os.path.isfile(BINARY)):
        pytest.skip("TM_BINARY is not built")
    return BINARY


def migratectl_binary():
    for p in (BUILD_DIR / "clients" / "migratectl" / "migratectl", BUILD_DIR / "migratectl"):
        if p.is_file():
            return str(p)
    if (SOURCE / "clients" / "migratectl" / "CMakeLists.txt").exists():
        pytest.fail("clients/migratectl exists but its binary is not in TM_BUILD_DIR: build everything first")
    pytest.skip("migratectl is not part of this tree yet")


def stages(text=None):
    return image.parse_dockerfile(text if text is not None else DOCKERFILE.read_text())


def test_runtime_stage_provides_every_library_the_service_loads():
    problems = image.check([service_binary()], DOCKERFILE.read_text(), ignore_sanitizers=sanitized_build())
    assert problems == []


def test_runtime_stage_provides_every_library_migratectl_loads():
    problems = image.check([migratectl_binary()], DOCKERFILE.read_text(), ignore_sanitizers=sanitized_build())
    assert [p for p in problems if "no binary loads" not in p] == []


def test_runtime_stage_installs_only_what_the_binaries_load():
    binaries = [service_binary()]
    try:
        binaries.append(migratectl_binary())
    except pytest.skip.Exception:
        pass
    problems = image.check(binaries, DOCKERFILE.read_text(), ignore_sanitizers=sanitized_build())
    assert [p for p in problems if "no binary loads" in p] == []


def test_check_reports_a_library_whose_package_the_dockerfile_drops():
    text = DOCKERFILE.read_text()
    assert " libmongoc-1.0-0 " in text
    problems = image.check([service_binary()], text.replace(" libmongoc-1.0-0 ", " "), sanitized_build())
    assert any("libmongoc-1.0.so.0" in p and "libmongoc-1.0-0" in p for p in problems), problems


def test_check_reports_a_runtime_package_no_binary_loads():
    text = DOCKERFILE.read_text().replace("      ca-certificates \\\n", "      ca-certificates curl \\\n")
    assert "curl" in text
    problems = image.check([service_binary()], text, sanitized_build())
    assert "the runtime stage installs curl, which no binary loads" in problems


def setup_sh_packages():
    text = (SOURCE / "deploy" / "local" / "setup.sh").read_text()
    block = re.search(r"^apt_packages=\((.*?)^\)", text, re.S | re.M).group(1)
    return {w for line in block.splitlines() for w in line.split("#")[0].split()}


def test_build_stage_installs_only_packages_setup_sh_installs():
    build = image.apt_installs(stages()[0])
    assert build, "the build stage installs nothing"
    assert set(build) - setup_sh_packages() == set()


def test_build_stage_has_what_cmake_needs_to_configure():
    # CMake configures the test targets too: criterion and python3 are needed even for the image.
    assert {"libgrpc-dev", "libmongoc-dev", "libmicrohttpd-dev", "libcriterion-dev", "python3"} <= set(
        image.apt_installs(stages()[0])
    )


def test_both_stages_use_the_same_pinned_debian_point_release():
    build, runtime = stages()[0], stages()[-1]
    assert re.fullmatch(r"debian:12\.\d+", build["image"]), build["image"]
    assert runtime["image"] == build["image"] + "-slim"


def final_instructions(keyword):
    return [rest for k, rest in stages()[-1]["instructions"] if k == keyword]


def test_runtime_runs_as_the_numeric_non_root_user_the_manifests_use():
    (user,) = final_instructions("USER")
    m = re.fullmatch(r"([0-9]+):([0-9]+)", user)
    assert m and int(m.group(1)) > 0, user
    deployment = (SOURCE / "deploy" / "k8s" / "base" / "deployment.yaml").read_text()
    assert set(re.findall(r"runAsUser: (\d+)", deployment)) == {m.group(1)}
    assert set(re.findall(r"runAsGroup: (\d+)", deployment)) == {m.group(2)}


def test_entrypoint_is_the_service_and_both_binaries_are_copied():
    assert final_instructions("ENTRYPOINT") == ['["/usr/local/bin/twigz-migrations"]']
    (copy,) = final_instructions("COPY")
    words = copy.split()
    assert words[0] == "--from=build" and words[-1] == "/usr/local/bin/"
    assert {os.path.basename(w) for w in words[1:-1]} == {"twigz-migrations", "migratectl"}
    # The Jobs call the binaries by these paths.
    k8s = SOURCE / "deploy" / "k8s"
    assert "/usr/local/bin/migratectl" in (k8s / "base" / "job-migrate.yaml").read_text()
    assert "/usr/local/bin/twigz-migrations" in (k8s / "oneshot" / "job-migrate-oneshot.yaml").read_text()


def test_image_exposes_the_grpc_and_metrics_ports():
    assert final_instructions("EXPOSE") == ["50051 9090"]


def dockerignore_excludes(rel):
    patterns = [
        line.strip()
        for line in (SOURCE / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.removeprefix("**/")) or
               fnmatch.fnmatch(os.path.basename(rel), p.removeprefix("**/")) for p in patterns)


def test_dockerignore_keeps_the_sources_the_build_needs():
    for rel in ("CMakeLists.txt", "cmake", "proto", "service", "clients", "tests"):
        assert (SOURCE / rel).exists() and not dockerignore_excludes(rel), rel


def test_dockerignore_drops_build_trees_and_downloaded_tools():
    for rel in (".git", "build", "build-deploy", ".tools", ".local-data", "node_modules"):
        assert dockerignore_excludes(rel), rel
