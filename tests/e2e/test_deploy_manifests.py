"""Offline validation of deploy/k8s: yamllint, the kustomize subset, schemas held locally, our policies.

Nothing is fetched: the schemas come from the npm packages deploy/local/setup.sh installs with
`npm ci` in deploy/k8s/validate. Each mutation test breaks a copy of the manifests the way a careless
edit would and expects the checker to name the broken policy, so a check that stopped working
fails here instead of letting a bad manifest through.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

SOURCE = pathlib.Path(os.environ.get("TM_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
K8S = SOURCE / "deploy" / "k8s"
VALIDATE = K8S / "validate"
BINARY = os.environ.get("TM_BINARY", "")
BUILD_DIR = pathlib.Path(os.environ.get("TM_BUILD_DIR", SOURCE / "build"))
MIGRATECTL = next(
    (p for p in (BUILD_DIR / "clients" / "migratectl" / "migratectl", BUILD_DIR / "migratectl") if p.is_file()),
    None,
)


@pytest.fixture(scope="module", autouse=True)
def validator_installed():
    if not (VALIDATE / "node_modules" / "kubernetes-models").is_dir():
        pytest.fail("deploy/k8s/validate/node_modules is missing: run deploy/local/setup.sh (npm ci)")


def help_text(binary):
    result = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def help_files(tmp_path_factory):
    """--service-help / --migratectl-help arguments from the built binaries (when built)."""
    d = tmp_path_factory.mktemp("help")
    args = []
    for flag, binary in (("--service-help", BINARY), ("--migratectl-help", MIGRATECTL)):
        if binary and os.path.isfile(binary):
            path = d / flag.strip("-")
            path.write_text(help_text(binary))
            args += [flag, str(path)]
    return args


def run_check(root=None, extra=()):
    cmd = ["node", str(VALIDATE / "check.mjs"), "--json", *extra]
    if root:
        cmd += ["--root", str(root)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.fixture
def k8s_copy(tmp_path):
    """A copy of deploy/k8s (without the validator) beside a copy of CMakeLists.txt, to break."""
    root = tmp_path / "deploy" / "k8s"
    shutil.copytree(K8S, root, ignore=shutil.ignore_patterns("validate", "node_modules"))
    shutil.copy(SOURCE / "CMakeLists.txt", tmp_path / "CMakeLists.txt")
    return root


def mutate(root, rel, old, new):
    path = root / rel
    text = path.read_text()
    assert old in text, f"{rel} no longer contains {old!r}: update this test's mutation"
    path.write_text(text.replace(old, new))


def test_yamllint_accepts_the_manifests():
    result = subprocess.run(
        ["yamllint", "--strict", "-c", str(K8S / ".yamllint"), str(K8S)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_rejects_a_duplicate_key(k8s_copy):
    mutate(k8s_copy, "base/deployment.yaml", "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n")
    result = subprocess.run(
        ["yamllint", "--strict", "-c", str(k8s_copy / ".yamllint"), str(k8s_copy)], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "key-duplicates" in result.stdout


def test_every_kustomization_builds_and_passes_schema_and_policy_checks(help_files):
    code, report = run_check(extra=help_files)
    assert report["findings"] == [] and code == 0
    built = {t["target"] for t in report["targets"]}
    assert {"base", "oneshot", "overlays/helm-hook", "overlays/argocd"} <= built


def test_base_runs_migratectl_and_the_overlays_run_the_one_shot_job_instead():
    _, report = run_check()
    objects = {t["target"]: set(t["objects"]) for t in report["targets"]}
    assert "Job/twigz-migrations-migrate" in objects["base"]
    for overlay in ("overlays/helm-hook", "overlays/argocd"):
        assert "Job/twigz-migrations-migrate-oneshot" in objects[overlay]
        assert "Job/twigz-migrations-migrate" not in objects[overlay]
        assert "Deployment/twigz-migrations" in objects[overlay]


def test_no_build_contains_a_secret():
    _, report = run_check()
    for t in report["targets"]:
        assert not [o for o in t["objects"] if o.startswith("Secret/")], t


def canonical(objects):
    return sorted(json.dumps(o, sort_keys=True) for o in objects)


@pytest.mark.parametrize("target", ["base", "oneshot", "overlays/helm-hook", "overlays/argocd"])
def test_offline_builder_matches_kubectl_kustomize(target):
    kubectl = shutil.which("kubectl")
    if not kubectl or subprocess.run([kubectl, "kustomize", "--help"], capture_output=True).returncode != 0:
        pytest.skip("no kubectl with kustomize on this machine: the offline builder alone is used")
    real = subprocess.run([kubectl, "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=60)
    assert real.returncode == 0, real.stderr
    ours = subprocess.run(
        ["node", str(VALIDATE / "build.mjs"), "--json", str(K8S / target)], capture_output=True, text=True, timeout=60
    )
    assert ours.returncode == 0, ours.stderr
    # kubectl prints YAML; read it back with the validator's own YAML package, through node.
    parsed = subprocess.run(
        ["node", "--input-type=module", "-e",
         "import YAML from 'yaml'; import fs from 'node:fs';"
         "const docs = YAML.parseAllDocuments(fs.readFileSync(0, 'utf8')).map((d) => d.toJS());"
         "process.stdout.write(JSON.stringify(docs.filter((d) => d)));"],
        input=real.stdout, capture_output=True, text=True, cwd=VALIDATE, timeout=60,
    )
    assert parsed.returncode == 0, parsed.stderr
    assert canonical(json.loads(ours.stdout)) == canonical(json.loads(parsed.stdout))


# (test id, file, text to replace, replacement, policy that must report it)
MUTATIONS = [
    ("readiness-probe-on-the-whole-server", "base/deployment.yaml",
     "service: twigz.migrations.v1.MigrationService", 'service: ""', "probes"),
    ("liveness-probe-not-grpc", "base/deployment.yaml",
     'livenessProbe:\n            grpc:\n              port: 50051\n              service: liveness',
     "livenessProbe:\n            tcpSocket:\n              port: 50051", "probes"),
    ("startup-probe-removed", "base/deployment.yaml", "startupProbe:", "x-startupProbe:", "probes"),
    ("runs-as-root-allowed", "base/deployment.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "non-root"),
    ("runs-as-uid-0", "base/job-migrate.yaml", "runAsUser: 10001", "runAsUser: 0", "non-root"),
    ("writable-root-filesystem", "base/deployment.yaml",
     "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "read-only-root"),
    ("misspelt-read-only-root-filesystem", "base/deployment.yaml",
     "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", "read-only-root"),
    ("tmp-not-mounted", "oneshot/job-migrate-oneshot.yaml", "mountPath: /tmp", "mountPath: /scratch", "read-only-root"),
    ("privilege-escalation", "base/deployment.yaml",
     "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "no-privilege-escalation"),
    ("capabilities-not-dropped", "base/job-migrate.yaml", "- ALL", "- NET_RAW", "capabilities"),
    ("seccomp-unconfined", "base/deployment.yaml", "type: RuntimeDefault", "type: Unconfined", "seccomp"),
    ("no-memory-limit", "base/deployment.yaml", '              cpu: "2"\n              memory: 512Mi\n',
     '              cpu: "2"\n', "resources"),
    ("image-latest", "base/job-migrate.yaml", "twigz-migrations:0.1.0", "twigz-migrations:latest", "image-pinned"),
    ("image-untagged", "base/deployment.yaml", "twigz-migrations:0.1.0", "twigz-migrations", "image-pinned"),
    ("image-tag-not-the-project-version", "oneshot/job-migrate-oneshot.yaml",
     "twigz-migrations:0.1.0", "twigz-migrations:0.0.9", "image-pinned"),
    ("job-restarts-in-place", "base/job-migrate.yaml",
     "restartPolicy: Never", "restartPolicy: OnFailure", "job-restart-never"),
    ("job-without-ttl", "base/job-migrate.yaml", "ttlSecondsAfterFinished: 86400", "parallelism: 1", "job-limits"),
    ("fail-job-codes-miss-77", "base/job-migrate.yaml", "values: [64, 65, 77]", "values: [64, 65]", "job-exit-codes"),
    ("fail-job-codes-include-75", "base/job-migrate.yaml",
     "values: [64, 65, 77]", "values: [64, 65, 75, 77]", "job-exit-codes"),
    ("fail-job-on-every-other-code", "oneshot/job-migrate-oneshot.yaml",
     "operator: In\n          values: [64, 65, 77]", "operator: NotIn\n          values: [0]", "job-exit-codes"),
    ("exit-code-rules-name-another-container", "base/job-migrate.yaml",
     "containerName: migratectl", "containerName: migrate", "job-exit-codes"),
    ("disruptions-counted", "base/job-migrate.yaml", "type: DisruptionTarget", "type: Ready", "job-exit-codes"),
    ("timeout-beyond-the-deadline", "base/job-migrate.yaml",
     "activeDeadlineSeconds: 7200", "activeDeadlineSeconds: 3000", "job-timeout"),
    ("grace-period-equals-drain", "base/deployment.yaml",
     "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 35", "termination-grace"),
    ("drain-longer-than-grace-period", "base/deployment.yaml",
     'name: TWIGZ_SHUTDOWN_GRACE\n              value: "30"', 'name: TWIGZ_SHUTDOWN_GRACE\n              value: "40"',
     "termination-grace"),
    ("pre-stop-sleep-eats-the-drain", "base/deployment.yaml", "seconds: 5", "seconds: 15", "termination-grace"),
    ("single-replica", "base/deployment.yaml", "replicas: 2", "replicas: 1", "availability"),
    ("service-selects-no-pod", "base/service.yaml", "component: server\n  ports:", "component: api\n  ports:",
     "selectors"),
    ("no-headless-service", "base/service-headless.yaml", "clusterIP: None", "type: ClusterIP", "services"),
    ("metrics-port-renamed", "base/deployment.yaml", "- name: metrics", "- name: prom", "metrics"),
    ("secret-example-applied", "base/kustomization.yaml", "  - job-migrate.yaml\n",
     "  - job-migrate.yaml\n  - secret.example.yaml\n", "no-secrets"),
    ("manifest-not-listed", "base/kustomization.yaml", "  - poddisruptionbudget.yaml\n", "", "unlisted"),
    ("helm-config-map-created-after-the-hook", "overlays/helm-hook/kustomization.yaml",
     'helm.sh/hook-weight: "-10"', 'helm.sh/hook-weight: "10"', "hooks"),
    ("helm-hook-not-pre-install", "overlays/helm-hook/kustomization.yaml",
     "helm.sh/hook: pre-install,pre-upgrade", "helm.sh/hook: post-install", "hooks"),
    ("argocd-hook-never-deleted", "overlays/argocd/kustomization.yaml",
     "argocd.argoproj.io/hook-delete-policy: BeforeHookCreation\n          argocd.argoproj.io/sync-wave: \"0\"",
     "argocd.argoproj.io/sync-wave: \"0\"", "hooks"),
    ("replicas-as-a-string", "base/deployment.yaml", "replicas: 2", "replicas: two", "schema"),
    ("unknown-field", "base/poddisruptionbudget.yaml", "maxUnavailable: 1", "maxUnavailable: 1\n  maxUnavaliable: 1",
     "schema"),
    ("unknown-kind", "base/service-headless.yaml", "kind: Service", "kind: Servcie", "schema"),
    ("kustomize-feature-the-builder-lacks", "base/kustomization.yaml",
     "kind: Kustomization\n", "kind: Kustomization\nnamePrefix: x-\n", "build"),
    ("patch-target-renamed", "oneshot/job-migrate-oneshot.yaml",
     "name: twigz-migrations-migrate-oneshot\n  labels", "name: twigz-migrations-oneshot\n  labels", "build"),
]


@pytest.mark.parametrize("rel,old,new,policy", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_check_reports_a_broken_manifest(k8s_copy, rel, old, new, policy):
    mutate(k8s_copy, rel, old, new)
    code, report = run_check(k8s_copy)
    assert code == 1
    assert policy in {f["policy"] for f in report["findings"]}, report["findings"]


def test_unbroken_copy_passes(k8s_copy):
    """The mutation tests' copy is valid before it is broken, so each finding comes from its mutation."""
    code, report = run_check(k8s_copy)
    assert (code, report["findings"]) == (0, [])


@pytest.mark.skipif(not (BINARY and os.path.isfile(BINARY)), reason="TM_BINARY is not built")
@pytest.mark.parametrize(
    "rel,old,new",
    [
        ("base/deployment.yaml", "name: TWIGZ_SHUTDOWN_GRACE", "name: TWIGZ_SHUTDOWN_GRACE_SECONDS"),
        ("base/configmap.yaml", "TWIGZ_BATCH_SIZE:", "TWIGZ_BATCHSIZE:"),
        ("oneshot/job-migrate-oneshot.yaml", "            - run\n", "            - run\n            - --dryrun\n"),
    ],
    ids=["env-name-typo", "config-map-key-typo", "flag-typo"],
)
def test_check_reports_a_setting_the_service_does_not_read(k8s_copy, help_files, rel, old, new):
    mutate(k8s_copy, rel, old, new)
    code, report = run_check(k8s_copy, help_files)
    assert code == 1
    assert "cli-flags" in {f["policy"] for f in report["findings"]}, report["findings"]


def validator_defaults():
    out = subprocess.run(
        ["node", "--input-type=module", "-e",
         "import { DEFAULTS } from './policies.mjs'; process.stdout.write(JSON.stringify(DEFAULTS));"],
        capture_output=True, text=True, cwd=VALIDATE, timeout=60, check=True,
    ).stdout
    return json.loads(out)


@pytest.mark.skipif(not (BINARY and os.path.isfile(BINARY)), reason="TM_BINARY is not built")
def test_validator_knows_the_service_default_shutdown_grace():
    line = next(l for l in help_text(BINARY).splitlines() if "--shutdown-grace" in l)
    assert int(re.search(r"\[(\d+)\]", line).group(1)) == validator_defaults()["defaultShutdownGrace"]


@pytest.mark.skipif(not (BINARY and os.path.isfile(BINARY)), reason="TM_BINARY is not built")
def test_one_shot_mode_documents_the_exit_codes_its_job_relies_on():
    text = help_text(BINARY)
    run_codes = text[text.index("Exit codes (run)"):]
    for code in (64, 65):
        assert re.search(rf"\b{code}\b", run_codes), code
    assert re.search(r"\b75\b[^,\n]*retry", run_codes), run_codes


def test_job_exit_codes_match_migratectl():
    if MIGRATECTL is None:
        if (SOURCE / "clients" / "migratectl" / "CMakeLists.txt").exists():
            pytest.fail("clients/migratectl exists but its binary is not in TM_BUILD_DIR: build everything first")
        pytest.skip("migratectl is not part of this tree yet")
    text = help_text(MIGRATECTL)
    defaults = validator_defaults()
    for code in defaults["permanentCodes"] + defaults["retriableCodes"]:
        assert re.search(rf"\b{code}\b", text), f"migratectl --help does not document exit code {code}"
