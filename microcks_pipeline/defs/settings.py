"""Every environment variable the Dagster layer reads, with its default, in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from microcks_pipeline.sources.hosts import parse_allowed_hosts
from microcks_pipeline.sources.urls import UrlPolicy

# Names of the variables, so docs, tests and the demo spell them once.
CATALOG_ROOT = "MICROCKS_PIPELINE_CATALOG_ROOT"
BACKSTAGE_URL = "MICROCKS_PIPELINE_BACKSTAGE_URL"
BACKSTAGE_TOKEN = "MICROCKS_PIPELINE_BACKSTAGE_TOKEN"
ALLOWED_HOSTS = "MICROCKS_PIPELINE_ALLOWED_HOSTS"  # comma-separated
GITHUB_ENTERPRISE_HOSTS = "MICROCKS_PIPELINE_GITHUB_ENTERPRISE_HOSTS"  # comma-separated
ALLOW_HTTP = "MICROCKS_PIPELINE_ALLOW_HTTP"
ALLOW_PRIVATE = "MICROCKS_PIPELINE_ALLOW_PRIVATE"
HOST_TOKENS = "MICROCKS_PIPELINE_HOST_TOKENS"  # JSON object {"host": "token"}
ARTIFACT_MAX_BYTES = "MICROCKS_PIPELINE_ARTIFACT_MAX_BYTES"
HTTP_TIMEOUT = "MICROCKS_PIPELINE_HTTP_TIMEOUT"
MICROCKS_URL = "MICROCKS_URL"
MICROCKS_CLIENT_ID = "MICROCKS_CLIENT_ID"
MICROCKS_CLIENT_SECRET = "MICROCKS_CLIENT_SECRET"
MICROCKS_TOKEN_URL = "MICROCKS_TOKEN_URL"
MICROCKS_TIMEOUT = "MICROCKS_TIMEOUT"
MICROCKS_GRPC_ENDPOINT = "MICROCKS_GRPC_ENDPOINT"  # host:port of gRPC mocks
MICROCKS_WS_ENDPOINT = "MICROCKS_WS_ENDPOINT"  # host:port of the async minion's WebSocket
DB_URL = "MICROCKS_PIPELINE_DB_URL"
CATALOG_INTERVAL = "MICROCKS_PIPELINE_CATALOG_INTERVAL"
CATALOG_LOAD_SECONDS = "MICROCKS_PIPELINE_CATALOG_LOAD_SECONDS"
SYNC_INTERVAL = "MICROCKS_PIPELINE_SYNC_INTERVAL"
REMOTE_INTERVAL = "MICROCKS_PIPELINE_REMOTE_INTERVAL"
BATCH_THRESHOLD = "MICROCKS_PIPELINE_BATCH_THRESHOLD"
BATCH_SIZE = "MICROCKS_PIPELINE_BATCH_SIZE"
BATCH_RUNS = "MICROCKS_PIPELINE_BATCH_RUNS"
AUDIT_CRON = "MICROCKS_PIPELINE_AUDIT_CRON"
RETENTION_CRON = "MICROCKS_PIPELINE_RETENTION_CRON"
RETENTION_DAYS = "MICROCKS_PIPELINE_EVENT_RETENTION_DAYS"
ON_INVALID = "MICROCKS_PIPELINE_ON_INVALID"  # delete (default) | keep
LEASE_SECONDS = "MICROCKS_PIPELINE_LEASE_SECONDS"

# The sample catalog the demo and a bare `dagster dev` read when nothing else is configured.
DEFAULT_CATALOG_ROOT = "examples/catalog"


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def env_bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def env_choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """The variable's value, one of `choices` (the first when unset)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def env_hosts(env: Mapping[str, str], name: str) -> list[str]:
    return [h.strip() for h in env.get(name, "").split(",") if h.strip()]


def env_allowed_hosts(env: Mapping[str, str]) -> list[str]:
    """The allow-list entries (`host` or `host:port`), each checked now: a malformed one, an
    empty one between commas included, is a ValueError naming the variable and the entry."""
    raw = env.get(ALLOWED_HOSTS, "")
    entries = [h.strip() for h in raw.split(",")] if raw.strip() else []
    parse_allowed_hosts(entries, source=ALLOWED_HOSTS)
    return entries


def artifact_url_policy(env: Mapping[str, str] | None = None) -> UrlPolicy:
    """Which artifact URLs the sync may read, from the environment (tokens left out): the
    catalog resource and `validate` both take it from here."""
    env = os.environ if env is None else env
    return UrlPolicy(
        allowed_hosts=parse_allowed_hosts(env_allowed_hosts(env), source=ALLOWED_HOSTS),
        github_enterprise_hosts=frozenset(
            h.lower() for h in env_hosts(env, GITHUB_ENTERPRISE_HOSTS)
        ),
        allow_http=env_bool(env, ALLOW_HTTP),
        allow_private=env_bool(env, ALLOW_PRIVATE),
    )


@dataclass(frozen=True)
class Settings:
    """Tuning of sensors, batching and schedules (resources read their own variables)."""

    catalog_interval: int = 30  # seconds; the daemon loop has a 5 s floor anyway
    # A catalog tick reads and parses files for at most about this long, then records what it
    # has and leaves the rest to the next tick: a large first pass reaches its runs in parts,
    # and a tick stays well within Dagster's sensor timeout (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS,
    # 60 s). A catalog read from a Git host loads far fewer entities per second: raise it there.
    catalog_load_seconds: float = 10.0
    sync_interval: int = 10
    batch_threshold: int = 8  # more due entities than this → one batch run instead of one each
    batch_size: int = 500  # at most this many entities per batch run
    # Batch runs come in multiples of this (the runs that may go at once), equally sized: a last,
    # smaller wave of runs would leave run slots idle while it works. A batch's step takes a slot
    # of the microcks_api pool (dagster.yaml: default_limit 2), so more runs than pool slots only
    # wait: a third run of three would start after the first two end, alone.
    batch_runs: int = 2
    audit_cron: str = "17 * * * *"
    retention_cron: str = "43 3 * * *"
    retention_days: int = 30
    # An invalid mock's live services: "delete" (the documented contract) or "keep" (the last
    # good mock stays served while its row shows the error).
    on_invalid: str = "delete"
    # How long a run's claim on an entity's rows holds; a run silent this long is a zombie.
    lease_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            catalog_interval=env_int(env, CATALOG_INTERVAL, cls.catalog_interval),
            catalog_load_seconds=env_float(env, CATALOG_LOAD_SECONDS, cls.catalog_load_seconds),
            sync_interval=env_int(env, SYNC_INTERVAL, cls.sync_interval),
            batch_threshold=env_int(env, BATCH_THRESHOLD, cls.batch_threshold, minimum=0),
            batch_size=env_int(env, BATCH_SIZE, cls.batch_size),
            batch_runs=env_int(env, BATCH_RUNS, cls.batch_runs),
            audit_cron=env.get(AUDIT_CRON, "").strip() or cls.audit_cron,
            retention_cron=env.get(RETENTION_CRON, "").strip() or cls.retention_cron,
            retention_days=env_int(env, RETENTION_DAYS, cls.retention_days),
            on_invalid=env_choice(env, ON_INVALID, ("delete", "keep")),
            lease_seconds=env_int(env, LEASE_SECONDS, cls.lease_seconds),
        )
