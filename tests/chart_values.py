"""What Dagster's Helm chart 1.13.27 does with deploy/values.yaml, without Helm or the chart.

Neither the chart (served from dagster-io.github.io/helm) nor its schema can be fetched on CI, and
the chart's files may not be copied into this repository. So this module holds a transcription,
written from the chart's pydantic schema models and instance templates in dagster-io/dagster
(`helm/dagster/schema/schema/charts/**`, `helm/dagster/templates/helpers/instance/*.tpl`,
`templates/configmap-instance.yaml`), of only the parts deploy/values.yaml uses:

- `CHART_KEYS`: the keys the chart knows under the sections we set, and their types; values the
  chart types as Kubernetes objects are checked against the Kubernetes JSON schemas that
  kubernetes-validate ships (the chart's schema refers to the same definitions);
- `instance_yaml`: the `dagster.yaml` the chart's `<release>-instance` ConfigMap renders for the
  webserver, the daemon and every run pod.

A key the chart does not know is silently ignored by the chart's templates (its schema allows
extra keys at the top level): here it is an error naming the key.

Cross-checked once by hand (not on CI, the chart's files stay out of this repository): Helm 4.1.4
rendering the chart's instance templates (configmap-instance.yaml and _concurrency.tpl at
dagster-io/dagster@99dc34fc, _run-coordinator.tpl with the #33225 fix, _run-launcher.tpl@a07d616f,
_postgresql.tpl, _scheduler.tpl) with deploy/values.yaml gave exactly `instance_yaml(values)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CHART_VERSION = "1.13.27"
KUBERNETES_VERSION = "1.30.0"
REPO = Path(__file__).resolve().parents[1]
VALUES = REPO / "deploy" / "values.yaml"
MANIFESTS = REPO / "deploy" / "manifests"


def load_values(path: Path = VALUES) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def load_manifests(folder: Path = MANIFESTS) -> list[dict[str, Any]]:
    """Every Kubernetes object of the plain manifests (the kustomization file left out)."""
    objects: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects


# ---- Kubernetes definitions (offline) ------------------------------------------------------------


_K8S_ID = "https://kubernetes.io/api/_definitions.json"


@cache
def _k8s_definitions() -> dict[str, Any]:
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    # The strict schemas refuse unknown fields, as the API server does.
    path = folder / f"v{KUBERNETES_VERSION}-local-strict" / "_definitions.json"
    return json.loads(path.read_text())


@cache
def _k8s_registry() -> Registry:
    resource = Resource.from_contents(_k8s_definitions(), default_specification=DRAFT202012)
    return Registry().with_resource(_K8S_ID, resource)


def k8s_errors(definition: str, value: Any, *, partial: bool = False) -> list[str]:
    """Why `value` is not a valid Kubernetes `definition` (empty when it is). `partial`: only the
    properties given are checked (the chart's runK8sConfig fragments are merged into objects
    Dagster completes, so their required fields are not required here)."""
    schema: dict[str, Any] = {"$ref": f"{_K8S_ID}#/$defs/{definition}"}
    if partial:
        props = _k8s_definitions()["$defs"][definition]["properties"]
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                key: {"$ref": f"{_K8S_ID}#/$defs/{definition}/properties/{key}"} for key in props
            },
        }
    validator = jsonschema.Draft202012Validator(schema, registry=_k8s_registry())
    return [
        "".join(f"/{p}" for p in err.absolute_path) + f": {err.message}"
        for err in validator.iter_errors(value)
    ]


# ---- the chart's keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class K8s:
    """A value the chart types as a Kubernetes object (`extra`: chart-only keys, e.g. `enabled`)."""

    definition: str
    partial: bool = False
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListOf:
    item: Any


@dataclass(frozen=True)
class MapOf:
    value: Any


@dataclass(frozen=True)
class OneOf:
    choices: tuple[Any, ...]


ANY = object()
V1 = "io.k8s.api.core.v1."
STR_MAP = MapOf(str)
PULL_POLICIES = OneOf(("Always", "IfNotPresent", "Never"))
IMAGE = {"repository": str, "tag": (str, type(None)), "pullPolicy": PULL_POLICIES}
PROBE = K8s(V1 + "Probe", extra=("enabled",))
ENV_SOURCES = {
    "env": ListOf(K8s(V1 + "EnvVar")),
    "envConfigMaps": ListOf(K8s(V1 + "ConfigMapEnvSource")),
    "envSecrets": ListOf(K8s(V1 + "SecretEnvSource")),
}
POD = {
    "annotations": STR_MAP,
    "labels": STR_MAP,
    "nodeSelector": STR_MAP,
    "affinity": K8s(V1 + "Affinity"),
    "tolerations": ListOf(K8s(V1 + "Toleration")),
    "podSecurityContext": K8s(V1 + "PodSecurityContext"),
    "securityContext": K8s(V1 + "SecurityContext"),
    "resources": K8s(V1 + "ResourceRequirements"),
    "volumes": ListOf(K8s(V1 + "Volume")),
    "volumeMounts": ListOf(K8s(V1 + "VolumeMount")),
    "schedulerName": str,
    "livenessProbe": PROBE,
    "readinessProbe": PROBE,
    "startupProbe": PROBE,
}
TAG_LIMIT = {
    "key": str,
    "value": OneOf((str, {"applyLimitPerUniqueValue": bool})),
    "limit": int,
}
WORKERS = {"useThreads": bool, "numWorkers": int, "numSubmitWorkers": int}
PURGE = {"purgeAfterDays": OneOf((int, MapOf(int)))}

CHART_KEYS: dict[str, Any] = {
    "global": {
        "postgresqlSecretName": str,
        "postgresqlSecretUsernameKey": str,
        "dagsterHome": str,
        "serviceAccountName": str,
        "celeryConfigSecretName": str,
    },
    "generatePostgresqlPasswordSecret": bool,
    "postgresql": {
        "enabled": bool,
        "image": IMAGE,
        "postgresqlHost": str,
        "postgresqlUsername": str,
        "postgresqlPassword": str,
        "postgresqlDatabase": str,
        "postgresqlParams": MapOf(ANY),
        "postgresqlScheme": str,
        "service": {"port": int},
    },
    "telemetry": {"enabled": bool},
    "dagster-user-deployments": {
        "enabled": bool,
        "enableSubchart": bool,
        "imagePullSecrets": ListOf(K8s(V1 + "LocalObjectReference")),
        "deployments": ListOf(
            {
                "name": str,
                "image": IMAGE,
                "port": int,
                "dagsterApiGrpcArgs": ListOf(str),
                "codeServerArgs": ListOf(str),
                "includeConfigInLaunchedRuns": {"enabled": bool},
                "initContainers": ListOf(K8s(V1 + "Container")),
                "sidecarContainers": ListOf(K8s(V1 + "Container")),
                "service": {"annotations": STR_MAP},
                **ENV_SOURCES,
                **POD,
            }
        ),
    },
    "runLauncher": {
        "type": OneOf(("K8sRunLauncher", "CeleryK8sRunLauncher", "CustomRunLauncher")),
        "config": {
            "k8sRunLauncher": {
                "image": IMAGE,
                "imagePullPolicy": PULL_POLICIES,
                "jobNamespace": (str, type(None)),
                "loadInclusterConfig": bool,
                "kubeconfigFile": (str, type(None)),
                "envConfigMaps": ListOf(K8s(V1 + "ConfigMapEnvSource")),
                "envSecrets": ListOf(K8s(V1 + "SecretEnvSource")),
                "envVars": ListOf(str),
                "volumes": ListOf(K8s(V1 + "Volume")),
                "volumeMounts": ListOf(K8s(V1 + "VolumeMount")),
                "labels": STR_MAP,
                "resources": K8s(V1 + "ResourceRequirements"),
                "schedulerName": str,
                "failPodOnRunFailure": bool,
                "securityContext": K8s(V1 + "SecurityContext"),
                "runK8sConfig": {
                    "containerConfig": K8s(V1 + "Container", partial=True),
                    "podSpecConfig": K8s(V1 + "PodSpec", partial=True),
                    "podTemplateSpecMetadata": K8s(
                        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
                    ),
                    "jobSpecConfig": K8s("io.k8s.api.batch.v1.JobSpec", partial=True),
                    "jobMetadata": K8s("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
                },
            }
        },
    },
    "dagsterDaemon": {
        "enabled": bool,
        "image": IMAGE,
        "heartbeatTolerance": int,
        "runCoordinator": {
            "enabled": bool,
            "type": OneOf(("QueuedRunCoordinator", "CustomRunCoordinator")),
            "config": {
                "queuedRunCoordinator": {
                    "maxConcurrentRuns": int,
                    "tagConcurrencyLimits": ListOf(TAG_LIMIT),
                    "dequeueIntervalSeconds": int,
                    "dequeueNumWorkers": int,
                    "dequeueUseThreads": bool,
                    "blockOpConcurrencyLimitedRuns": {
                        "enabled": bool,
                        "opConcurrencySlotBuffer": int,
                    },
                }
            },
        },
        # The chart types runMonitoring as a free map; these are the keys its template renders.
        "runMonitoring": {
            "enabled": bool,
            "startTimeoutSeconds": int,
            "cancelTimeoutSeconds": int,
            "pollIntervalSeconds": int,
            "maxRuntimeSeconds": int,
            "maxResumeRunAttempts": int,
            "freeSlotsAfterRunEndSeconds": int,
        },
        "runRetries": {"enabled": bool, "maxRetries": int, "retryOnAssetOrOpFailure": bool},
        "sensors": WORKERS,
        "schedules": WORKERS,
        "backfills": WORKERS,
        "deploymentLabels": STR_MAP,
        "checkDbReadyInitContainer": bool,
        "logFormat": str,
        **ENV_SOURCES,
        **POD,
    },
    "concurrency": {
        "enabled": bool,
        "pools": {
            "defaultLimit": int,
            "granularity": OneOf(("run", "op")),
            "opGranularityRunBuffer": int,
        },
        "runs": {"maxConcurrentRuns": int, "tagConcurrencyLimits": ListOf(TAG_LIMIT)},
    },
    "retention": {"enabled": bool, "schedule": PURGE, "sensor": PURGE, "autoMaterialize": PURGE},
}


def key_errors(values: Any, spec: Any = None, path: str = "") -> list[str]:
    """Every place where `values` uses a key the chart does not know or a value of the wrong
    type (empty when none)."""
    spec = CHART_KEYS if spec is None else spec
    where = path or "."
    if spec is ANY:
        return []
    if isinstance(spec, dict):
        if not isinstance(values, dict):
            return [f"{where}: expected a mapping, got {values!r}"]
        errors: list[str] = []
        for key, value in values.items():
            if key not in spec:
                errors.append(f"{path}.{key}: not a key of Dagster's chart {CHART_VERSION} here")
            else:
                errors.extend(key_errors(value, spec[key], f"{path}.{key}"))
        return errors
    if isinstance(spec, ListOf):
        if not isinstance(values, list):
            return [f"{where}: expected a list, got {values!r}"]
        return [e for i, v in enumerate(values) for e in key_errors(v, spec.item, f"{path}[{i}]")]
    if isinstance(spec, MapOf):
        if not isinstance(values, dict):
            return [f"{where}: expected a mapping, got {values!r}"]
        return [e for k, v in values.items() for e in key_errors(v, spec.value, f"{path}.{k}")]
    if isinstance(spec, OneOf):
        for choice in spec.choices:
            if isinstance(choice, str | dict | ListOf | MapOf | type):
                if isinstance(choice, str) and values == choice:
                    return []
                if not isinstance(choice, str) and not key_errors(values, choice, path):
                    return []
        return [f"{where}: {values!r} is not one of {_describe(spec.choices)}"]
    if isinstance(spec, K8s):
        if not isinstance(values, dict):
            return [f"{where}: expected a Kubernetes {spec.definition}, got {values!r}"]
        own = {k: v for k, v in values.items() if k not in spec.extra}
        return [path + e for e in k8s_errors(spec.definition, own, partial=spec.partial)]
    types = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(values, bool) and bool not in types:
        return [f"{where}: expected {_describe(types)}, got {values!r}"]
    if not isinstance(values, types):
        return [f"{where}: expected {_describe(types)}, got {values!r}"]
    return []


def _describe(choices: Any) -> str:
    def one(choice: Any) -> str:
        if isinstance(choice, type):
            return choice.__name__
        if isinstance(choice, dict):
            return "a mapping of " + ", ".join(choice)
        return repr(choice)

    return ", ".join(one(c) for c in choices)


# ---- the instance the chart renders --------------------------------------------------------------


def _postgres(values: Mapping[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    db: dict[str, Any] = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return {"postgres_db": db}


def _storage(module: str, cls: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {"module": module, "class": cls, "config": _postgres(values)}


def _k8s_launcher(values: Mapping[str, Any], release: str, namespace: str) -> dict[str, Any]:
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": k8s.get("loadInclusterConfig", True),
        "job_namespace": k8s.get("jobNamespace") or namespace,
        "image_pull_policy": k8s.get("imagePullPolicy", "Always"),
        "service_account_name": release,
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{release}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    # Written only when set (non-empty, or true).
    for key, name in (
        ("kubeconfigFile", "kubeconfig_file"),
        ("envVars", "env_vars"),
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
        ("failPodOnRunFailure", "fail_pod_on_run_failure"),
        ("schedulerName", "scheduler_name"),
        ("securityContext", "security_context"),
    ):
        if k8s.get(key):
            config[name] = k8s[key]
    for key, name in (("envConfigMaps", "env_config_maps"), ("envSecrets", "env_secrets")):
        if k8s.get(key):
            config[name] = [source["name"] for source in k8s[key]]
    run_k8s = k8s.get("runK8sConfig") or {}
    names = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    if run_k8s:
        config["run_k8s_config"] = {names[k]: v for k, v in run_k8s.items()}
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _snake(workers: Mapping[str, Any]) -> dict[str, Any]:
    names = {"useThreads": "use_threads", "numWorkers": "num_workers"}
    names["numSubmitWorkers"] = "num_submit_workers"
    return {names[k]: v for k, v in workers.items() if v is not None}


def _tag_limits(limits: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in limit.items() if k != "value" or v} for limit in limits]


def instance_yaml(
    values: Mapping[str, Any], release: str = "dagster", namespace: str = "microcks-pipeline"
) -> dict[str, Any]:
    """The `dagster.yaml` of the chart's `<release>-instance` ConfigMap for these values (the
    sections deploy/values.yaml sets; the chart's defaults elsewhere)."""
    daemon = values["dagsterDaemon"]
    instance: dict[str, Any] = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": _storage(
            "dagster_postgres.schedule_storage", "PostgresScheduleStorage", values
        ),
        "run_launcher": _k8s_launcher(values, release, namespace),
        "run_storage": _storage("dagster_postgres.run_storage", "PostgresRunStorage", values),
        "event_log_storage": _storage(
            "dagster_postgres.event_log", "PostgresEventLogStorage", values
        ),
        "compute_logs": {
            "module": "dagster.core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        },
    }
    coordinator = daemon["runCoordinator"]
    if daemon["enabled"] and coordinator["enabled"]:
        queued = coordinator["config"]["queuedRunCoordinator"]
        names = {
            "maxConcurrentRuns": "max_concurrent_runs",
            "tagConcurrencyLimits": "tag_concurrency_limits",
            "dequeueIntervalSeconds": "dequeue_interval_seconds",
            "dequeueUseThreads": "dequeue_use_threads",
            "dequeueNumWorkers": "dequeue_num_workers",
        }
        config = {names[k]: v for k, v in queued.items() if v not in (None, [], False)}
        # The chart writes -1 (no limit) for an unset maxConcurrentRuns, except when the
        # concurrency block is on (dagster-io/dagster#33225: Dagster refuses both).
        if config and not values.get("concurrency", {}).get("enabled"):
            config.setdefault("max_concurrent_runs", -1)
        instance["run_coordinator"] = {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            **({"config": config} if config else {}),
        }
    monitoring = daemon["runMonitoring"]
    if daemon["enabled"] and monitoring["enabled"]:
        rendered = {
            "enabled": True,
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            # Always written, from the chart's default when unset.
            "free_slots_after_run_end_seconds": monitoring.get("freeSlotsAfterRunEndSeconds", 0),
        }
        for key, name in (
            ("cancelTimeoutSeconds", "cancel_timeout_seconds"),
            ("maxRuntimeSeconds", "max_runtime_seconds"),
            ("maxResumeRunAttempts", "max_resume_run_attempts"),
        ):
            if monitoring.get(key) is not None:
                rendered[name] = monitoring[key]
        instance["run_monitoring"] = rendered
    retries = daemon["runRetries"]
    if daemon["enabled"] and retries["enabled"]:
        instance["run_retries"] = {"enabled": True}
        if retries.get("maxRetries"):
            instance["run_retries"]["max_retries"] = retries["maxRetries"]
        if retries.get("retryOnAssetOrOpFailure") is not None:
            instance["run_retries"]["retry_on_asset_or_op_failure"] = retries[
                "retryOnAssetOrOpFailure"
            ]
    for section in ("sensors", "schedules"):
        if daemon["enabled"] and daemon.get(section, {}).get("useThreads"):
            instance[section] = _snake(daemon[section])
    if daemon["enabled"] and daemon.get("backfills"):
        instance["backfills"] = _snake(daemon["backfills"])
    instance["telemetry"] = {"enabled": values["telemetry"]["enabled"]}
    retention = values.get("retention", {})
    if retention.get("enabled"):
        kinds = {"schedule": "schedule", "sensor": "sensor", "autoMaterialize": "auto_materialize"}
        instance["retention"] = {
            name: {"purge_after_days": retention[kind]["purgeAfterDays"]}
            for kind, name in kinds.items()
            if retention.get(kind)
        }
    concurrency = values.get("concurrency", {})
    if concurrency.get("enabled"):
        rendered_c: dict[str, Any] = {}
        pools = concurrency.get("pools", {})
        pool_names = {
            "defaultLimit": "default_limit",
            "granularity": "granularity",
            "opGranularityRunBuffer": "op_granularity_run_buffer",
        }
        if any(v is not None for v in pools.values()):
            rendered_c["pools"] = {pool_names[k]: v for k, v in pools.items() if v is not None}
        runs = concurrency.get("runs", {})
        if runs.get("maxConcurrentRuns") is not None or runs.get("tagConcurrencyLimits"):
            rendered_c["runs"] = {}
            if runs.get("maxConcurrentRuns") is not None:
                rendered_c["runs"]["max_concurrent_runs"] = runs["maxConcurrentRuns"]
            if runs.get("tagConcurrencyLimits"):
                rendered_c["runs"]["tag_concurrency_limits"] = _tag_limits(
                    runs["tagConcurrencyLimits"]
                )
        instance["concurrency"] = rendered_c
    return instance


def chart_conflicts(values: Mapping[str, Any]) -> list[str]:
    """The chart's own refusals (`fail` in _concurrency.tpl): a run limit set both under
    `concurrency.runs` and under the queued run coordinator."""
    if not values.get("concurrency", {}).get("enabled"):
        return []
    runs = values["concurrency"].get("runs", {})
    queued = values["dagsterDaemon"]["runCoordinator"]["config"].get("queuedRunCoordinator", {})
    errors = []
    if runs.get("maxConcurrentRuns") is not None and queued.get("maxConcurrentRuns") is not None:
        errors.append("maxConcurrentRuns set in both concurrency.runs and queuedRunCoordinator")
    if runs.get("tagConcurrencyLimits") and queued.get("tagConcurrencyLimits"):
        errors.append("tagConcurrencyLimits set in both concurrency.runs and queuedRunCoordinator")
    return errors


def configurable_classes(instance: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(section, {module, class, config}) for every pluggable class the instance names."""
    for section, value in instance.items():
        if isinstance(value, Mapping) and "module" in value and "class" in value:
            yield section, value
