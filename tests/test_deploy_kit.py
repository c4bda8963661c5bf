"""The production kit (Dockerfile, deploy/values.yaml for Dagster's Helm chart, deploy/manifests)
is checked without a cluster, a Docker engine or Helm: the Dockerfile by hadolint, the manifests
and the Kubernetes-typed values by the Kubernetes JSON schemas, the values' keys by the chart's
keys, the instance the chart renders by the installed Dagster's own config schemas, and the
chart's code-server command and readiness probe by running them."""

from __future__ import annotations

import copy
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_values import (
    CHART_VERSION,
    KUBERNETES_VERSION,
    REPO,
    chart_conflicts,
    configurable_classes,
    instance_yaml,
    key_errors,
    load_manifests,
    load_values,
)
from dagster._config import process_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData, class_from_code_pointer
from packaging.requirements import Requirement

from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.assets import MICROCKS_POOL
from microcks_pipeline.defs.tags import ENTITY_TAG

DOCKERFILE = REPO / "Dockerfile"
LOCK = REPO / "deploy" / "requirements.lock"
SECRET_VARIABLES = (
    s.MICROCKS_CLIENT_SECRET,
    s.BACKSTAGE_TOKEN,
    s.HOST_TOKENS,
    s.DB_URL,
    "MICROCKS_PIPELINE_STATUS_TOKEN",
)
STATUS_COMMAND = ["microcks-pipeline", "serve-status", "--host", "0.0.0.0", "--port", "8090"]


def _code_location(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def _tool(name: str) -> str:
    """A tool installed with the dev extras, next to this Python (or on PATH)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


# ---- Dockerfile ----------------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def _copied_sources() -> list[str]:
    """What the Dockerfile's COPY instructions take from the build context."""
    steps = _instructions(DOCKERFILE.read_text())
    return [src for op, args in steps if op == "COPY" for src in args.split()[:-1]]


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("hadolint"), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dockerfile_is_clean_for_hadolint() -> None:
    result = _hadolint(DOCKERFILE)

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_dockerfile_that_installs_unpinned_packages_as_root(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install dagster\nCMD dagster api grpc\n")

    result = _hadolint(bad)

    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image
    assert "DL3013" in result.stdout  # unpinned pip install


def test_image_serves_the_code_location_as_the_chart_runs_it() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    deployment = _code_location(load_values())
    cmd = yaml.safe_load(next(args for op, args in steps if op == "CMD"))
    exposed = {p for op, args in steps if op == "EXPOSE" for p in args.split()}

    # The chart runs `dagster api grpc -h 0.0.0.0 -p <port> <dagsterApiGrpcArgs>`.
    assert cmd == [
        "dagster",
        "api",
        "grpc",
        "-h",
        "0.0.0.0",
        "-p",
        str(deployment["port"]),
        *deployment["dagsterApiGrpcArgs"],
    ]
    assert {str(deployment["port"]), "8090"} <= exposed
    assert next(args for op, args in steps if op == "FROM").startswith("python:3.11-slim")


def test_image_runs_as_a_non_root_user_with_no_secret_inside() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    users = [args for op, args in steps if op == "USER"]
    baked = " ".join(args for op, args in steps if op in ("ENV", "ARG", "LABEL"))

    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [op for op, _ in steps].index("USER") > max(
        i for i, (op, _) in enumerate(steps) if op == "RUN"
    )
    for name in SECRET_VARIABLES:
        assert name not in baked


def test_docker_context_holds_only_what_the_image_copies() -> None:
    rules = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    copied = _copied_sources()

    assert rules[0] == "*"  # everything else (.venv, .git, *.db, tests, local secrets) stays out
    for src in copied:
        assert (REPO / src).exists(), src
        assert f"!{src}" in rules or f"!{src}/" in rules, f"{src} is ignored by .dockerignore"


def test_project_builds_from_the_docker_context_with_its_data_files(tmp_path: Path) -> None:
    # Only what the Dockerfile copies is there, as in `docker build`.
    context = tmp_path / "context"
    for src in _copied_sources():
        if (REPO / src).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(REPO / src, context / src, ignore=ignore)
        else:
            (context / src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / src, context / src)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "out"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = (tmp_path / "out").glob("microcks_pipeline-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "microcks_pipeline/definitions.py" in names
    assert "microcks_pipeline/schema/microcks.schema.json" in names
    assert any(n.startswith("microcks_pipeline/store/migrations/versions/") for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)  # the microcks-pipeline command


def test_lock_pins_every_dependency_the_image_needs_at_the_chart_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version

    needed = project["dependencies"] + project["optional-dependencies"]["k8s"]
    for spec in map(Requirement, needed):
        pinned = pins.get(spec.name.lower().replace("_", "-"))
        assert pinned is not None, f"{spec.name} is not in {LOCK.name}"
        assert spec.specifier.contains(pinned, prereleases=True), f"{spec} vs {pinned}"
    assert pins["dagster"] == CHART_VERSION
    assert pins["dagster-k8s"] == pins["dagster-postgres"] == "0.29.27"
    assert "psycopg2-binary" in pins  # the driver postgresql+psycopg2 names


# ---- the code location as the chart starts and probes it -----------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health_check(command: list[str], port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool(command[0]), *command[1:-1], str(port)],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def code_server() -> Iterator[tuple[int, list[str]]]:
    """`dagster api grpc` with the values' arguments (on loopback and a free port), and the
    values' readiness probe command."""
    deployment = _code_location(load_values())
    probe = deployment["readinessProbe"]["exec"]["command"]
    assert probe[-1] == str(deployment["port"])  # the probe asks the port the server listens on
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MICROCKS", "DAGSTER_HOME"))}
    server = subprocess.Popen(
        [_tool("dagster"), "api", "grpc", "-h", "127.0.0.1", "-p", str(port)]
        + deployment["dagsterApiGrpcArgs"],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while _health_check(probe, port).returncode != 0:
            if server.poll() is not None:
                pytest.fail(f"dagster api grpc exited: {server.stderr.read()[-2000:]}")
            assert time.monotonic() < deadline, "the code server did not become healthy in 90 s"
            time.sleep(1)
        yield port, probe
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_readiness_probe_passes_once_the_code_server_loaded_the_definitions(
    code_server: tuple[int, list[str]],
) -> None:
    port, probe = code_server

    assert _health_check(probe, port).returncode == 0


def test_readiness_probe_fails_where_no_code_server_listens(
    code_server: tuple[int, list[str]],
) -> None:
    _, probe = code_server

    assert _health_check(probe, _free_port()).returncode != 0


# ---- values for the chart ------------------------------------------------------------------------


def test_values_use_only_keys_and_types_the_chart_knows() -> None:
    values = load_values()

    assert key_errors(values) == []
    assert chart_conflicts(values) == []


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        pytest.param(
            ["dagsterDaemon", "runMonitering"],
            {"enabled": True},
            ".dagsterDaemon.runMonitering: not a key of Dagster's chart",
            id="misspelt-key",
        ),
        pytest.param(
            ["runLauncher", "config", "k8sRunLauncher", "runK8sConfig", "jobSpecConfig"],
            {"ttlSecondsAfterFinish": 60},
            "jobSpecConfig: Additional properties are not allowed ('ttlSecondsAfterFinish'",
            id="misspelt-kubernetes-field",
        ),
        pytest.param(
            ["dagster-user-deployments", "deployments", 0, "readinessProbe", "periodSeconds"],
            "soon",
            "readinessProbe/periodSeconds: 'soon' is not of type 'integer'",
            id="wrong-kubernetes-type",
        ),
        pytest.param(
            ["runLauncher", "type"],
            "K8sLauncher",
            ".runLauncher.type: 'K8sLauncher' is not one of 'K8sRunLauncher'",
            id="unknown-launcher",
        ),
    ],
)
def test_values_check_names_the_bad_key(path: list[Any], value: Any, error: str) -> None:
    values = copy.deepcopy(load_values())
    target = values
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value

    errors = key_errors(values)

    assert any(error in e for e in errors), errors


def test_a_run_limit_set_twice_is_refused_as_the_chart_refuses_it() -> None:
    values = copy.deepcopy(load_values())
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    queued["maxConcurrentRuns"] = 10

    assert chart_conflicts(values) == [
        "maxConcurrentRuns set in both concurrency.runs and queuedRunCoordinator"
    ]


def test_code_location_gets_secrets_from_kubernetes_secrets_and_passes_them_to_runs() -> None:
    deployment = _code_location(load_values())

    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert [s["name"] for s in deployment["envSecrets"]] == ["microcks-pipeline-secrets"]
    assert deployment["readinessProbe"]["enabled"] is True
    assert deployment["podSecurityContext"]["runAsNonRoot"] is True


def test_no_secret_value_is_written_in_the_kit() -> None:
    texts = [(REPO / "deploy" / "values.yaml").read_text()]
    texts += [p.read_text() for p in sorted((REPO / "deploy" / "manifests").glob("*.yaml"))]
    values = load_values()

    assert "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    for obj in load_manifests():
        assert obj["kind"] != "Secret"
        if obj["kind"] == "ConfigMap":
            assert not set(obj["data"]) & set(SECRET_VARIABLES)
    for text in texts:
        for name in SECRET_VARIABLES:
            assert f"{name}:" not in text and f"{name}=" not in text


# ---- the instance the chart renders --------------------------------------------------------------


def _schema_errors(instance: dict[str, Any], home: Path) -> list[str]:
    """What the installed Dagster (and dagster-k8s, dagster-postgres) refuse in this instance
    config: Dagster's own loading checks and instance schema, then each pluggable class's config
    schema. Nothing is instantiated, so no cluster or database is contacted."""
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    try:
        dagster_instance_config(str(home))
    except DagsterInvalidConfigError as exc:
        return [str(exc)]
    errors = []
    for section, entry in configurable_classes(instance):
        data = ConfigurableClassData(entry["module"], entry["class"], yaml.safe_dump({}))
        cls = class_from_code_pointer(data.module_name, data.class_name)
        checked = process_config(cls.config_type(), entry.get("config") or {})
        errors += [f"{section}: {e.message}" for e in checked.errors or []]
    return errors


@pytest.fixture
def pg_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart's pods get DAGSTER_PG_PASSWORD from the Secret; config processing resolves it."""
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "not-a-real-password")


@pytest.mark.usefixtures("pg_password")
def test_chart_instance_passes_dagsters_own_config_schemas(tmp_path: Path) -> None:
    instance = instance_yaml(load_values())

    assert instance["run_launcher"]["class"] == "K8sRunLauncher"
    assert _schema_errors(instance, tmp_path) == []


@pytest.mark.usefixtures("pg_password")
def test_a_misspelt_launcher_setting_is_reported_by_dagster_k8s(tmp_path: Path) -> None:
    instance = instance_yaml(load_values())
    instance["run_launcher"]["config"]["job_namespce"] = "other"

    errors = _schema_errors(instance, tmp_path)

    assert any('unexpected config entry "job_namespce"' in e for e in errors), errors


@pytest.mark.usefixtures("pg_password")
def test_a_run_limit_left_in_the_coordinator_beside_the_concurrency_block_is_refused(
    tmp_path: Path,
) -> None:
    # What charts before dagster-io/dagster#33225 rendered: the instance would not load.
    instance = instance_yaml(load_values())
    instance["run_coordinator"]["config"]["max_concurrent_runs"] = -1

    errors = _schema_errors(instance, tmp_path)

    assert any("incompatible with the `concurrency > runs` config" in e for e in errors), errors


def test_chart_instance_limits_and_retries_runs_as_the_tested_dagster_yaml() -> None:
    chart = instance_yaml(load_values())
    tested = yaml.safe_load((REPO / "dagster.yaml").read_text())

    assert chart["concurrency"] == tested["concurrency"]
    assert {
        "key": ENTITY_TAG,
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in chart["concurrency"]["runs"]["tag_concurrency_limits"]
    assert chart["concurrency"]["pools"]["default_limit"] >= 1  # caps pool=MICROCKS_POOL steps
    assert MICROCKS_POOL == "microcks_api"
    assert chart["run_retries"] == tested["run_retries"]
    assert chart["run_retries"]["retry_on_asset_or_op_failure"] is False
    assert chart["run_coordinator"]["class"] == tested["run_coordinator"]["class"]
    assert chart["run_coordinator"]["config"] == tested["run_coordinator"]["config"]
    assert chart["run_monitoring"]["enabled"] is True
    assert chart["run_monitoring"].get("max_resume_run_attempts", 0) == 0
    scheme = {
        c["config"]["postgres_db"]["scheme"]
        for key, c in chart.items()
        if key.endswith("storage") and "postgres_db" in c.get("config", {})
    }
    assert scheme == {tested["storage"]["postgres"]["postgres_db"]["scheme"]}


def test_finished_run_jobs_are_deleted_after_a_while() -> None:
    launcher = instance_yaml(load_values())["run_launcher"]["config"]

    ttl = launcher["run_k8s_config"]["job_spec_config"]["ttlSecondsAfterFinished"]
    assert 0 < ttl <= 24 * 3600
    assert launcher["resources"]["limits"]["memory"]


# ---- plain manifests (settings, status service) --------------------------------------------------


def test_manifests_are_valid_kubernetes_objects() -> None:
    objects = load_manifests()

    assert {o["kind"] for o in objects} == {"ConfigMap", "Deployment", "Service"}
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_a_manifest_with_a_wrong_field_is_rejected() -> None:
    deployment = copy.deepcopy(next(o for o in load_manifests() if o["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"

    with pytest.raises(kubernetes_validate.ValidationError, match="containerPort"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_status_service_runs_from_the_code_location_image_as_non_root() -> None:
    objects = load_manifests()
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    service = next(o for o in objects if o["kind"] == "Service")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    image = _code_location(load_values())["image"]

    (tag,) = yaml.safe_load((REPO / "deploy" / "manifests" / "kustomization.yaml").read_text())[
        "images"
    ]
    assert container["image"] == f"{image['repository']}:{image['tag']}"
    assert (tag["newName"], tag["newTag"]) == (image["repository"], image["tag"])
    assert container["command"] == STATUS_COMMAND
    assert container["ports"][0]["containerPort"] == 8090
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_status_service_reads_its_token_and_database_from_secrets_only() -> None:
    deployment = next(o for o in load_manifests() if o["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}

    assert set(env) == {s.DB_URL, "MICROCKS_PIPELINE_STATUS_TOKEN"}
    assert all("secretKeyRef" in e["valueFrom"] for e in env.values())
    # Least privilege: it never gets the Microcks or Git credentials.
    assert not any("secretRef" in source for source in container["envFrom"])


def test_every_install_command_pins_the_chart_version_of_the_image() -> None:
    texts = [
        (REPO / "deploy" / "README.md").read_text(),
        (REPO / "deploy" / "values.yaml").read_text(),
    ]
    commands = [
        " ".join(shlex.split(cmd.replace("#", "")))
        for text in texts
        for cmd in text.replace("\\\n", " ").splitlines()
        if "helm upgrade --install" in cmd
    ]

    assert len(commands) == 2
    for command in commands:
        assert f"--version {CHART_VERSION}" in command, command
        assert "-f deploy/values.yaml" in command
