"""Dagster resources for the catalog, Microcks and the status store, and their env defaults.

Values come from environment variables chosen in `resources_from_env()`; secrets are passed as
`dg.EnvVar` so the UI shows the variable's name, never its value. Microcks may be left
unconfigured: loading still works, the catalog sensor keeps recording work, and the sync sensor
skips with `MicrocksResource.not_configured_reason`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.core.lifecycle import credentials_fingerprint
from microcks_pipeline.defs import settings as s
from microcks_pipeline.microcks import MicrocksClient, TokenProvider
from microcks_pipeline.microcks.token import check_base_url
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog import catalog_source
from microcks_pipeline.sources.catalog.entity import CatalogSource
from microcks_pipeline.sources.hosts import parse_allowed_hosts
from microcks_pipeline.sources.urls import UrlPolicy
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.processor import ScanCache

# One (source, reader, cache) per catalog configuration per process; see CatalogResource.scanner.
_SCANNERS: dict[str, tuple[CatalogSource, ArtifactReader, ScanCache]] = {}
_SCANNERS_LOCK = threading.Lock()


class CatalogResource(dg.ConfigurableResource):
    """Where API entities come from (a folder OR Backstage) and how artifact URLs may be read."""

    root: str = Field(default="", description="Folder of catalog-info.yaml files")
    backstage_url: str = Field(default="", description="Backstage base URL (instead of root)")
    token: str = Field(default="", description="Backstage bearer token (use an EnvVar)")
    allowed_hosts: list[str] = Field(
        default=[], description="host or host:port entries artifact URLs may point at"
    )
    github_enterprise_hosts: list[str] = Field(
        default=[], description="GitHub Enterprise hosts: their /blob/ pages are read from /raw/"
    )
    allow_http: bool = False
    allow_private: bool = Field(default=False, description="Allow private/loopback addresses")
    host_tokens: str = Field(default="", description='JSON {"host": "token"} (use an EnvVar)')
    max_bytes: int = Field(default=0, description="Artifact size cap; 0 keeps the library's")
    timeout: float = Field(default=10.0, description="Seconds per catalog or artifact request")
    remote_interval: float = Field(
        default=300.0,
        description="Seconds before a remote file or repository is asked again for changes",
    )

    def source(self) -> CatalogSource:
        """A new catalog source (close it when done, see `open`)."""
        try:
            if self.root and not self.backstage_url:
                return catalog_source(root=self.root)
            return catalog_source(
                root=self.root or None,
                backstage_url=self.backstage_url or None,
                token=self.token or None,
                timeout=self.timeout,
            )
        except ValueError as exc:
            raise ConfigError(str(exc), field="catalog") from None

    def scanner(self) -> tuple[CatalogSource, ArtifactReader, ScanCache]:
        """The source, reader and scan cache the catalog sensor keeps for this configuration.

        Sensors are evaluated in a long-lived code server: keeping these between ticks makes an
        unchanged tick cost a stat of each file instead of a re-read and re-parse of everything.
        """
        key = self.model_dump_json()
        with _SCANNERS_LOCK:
            found = _SCANNERS.get(key)
            if found is None:
                found = _SCANNERS[key] = (self.source(), self.reader(), ScanCache())
            return found

    def reader(self) -> ArtifactReader:
        extra = {"max_file_bytes": self.max_bytes} if self.max_bytes else {}
        return ArtifactReader(self.url_policy(), remote_interval=self.remote_interval, **extra)

    @contextmanager
    def open(self) -> Iterator[tuple[CatalogSource, ArtifactReader]]:
        """A catalog source and an artifact reader for one evaluation or step, closed after."""
        source = self.source()
        try:
            with self.reader() as reader:
                yield source, reader
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def url_policy(self) -> UrlPolicy:
        extra = {"max_bytes": self.max_bytes} if self.max_bytes else {}
        try:
            allowed = parse_allowed_hosts(self.allowed_hosts, source="allowed_hosts")
        except ValueError as exc:
            raise ConfigError(str(exc), field="catalog") from None
        return UrlPolicy(
            allowed_hosts=allowed,
            github_enterprise_hosts=_hosts(self.github_enterprise_hosts),
            allow_http=self.allow_http,
            allow_private=self.allow_private,
            host_tokens=_host_tokens(self.host_tokens),
            timeout=self.timeout,
            **extra,
        )


def _hosts(names: list[str]) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in names if h.strip())


def _host_tokens(raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        # The text may hold tokens: never echo it.
        raise ConfigError("host tokens must be a JSON object", field="host_tokens") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(
            "host tokens must be a JSON object of host → token strings", field="host_tokens"
        )
    return {k.strip().lower(): v for k, v in value.items()}


class MicrocksResource(dg.ConfigurableResource):
    """Microcks' API; every field optional so a missing configuration never breaks loading."""

    base_url: str = Field(
        default="", description="Microcks base URL, e.g. https://microcks.example"
    )
    client_id: str = Field(default="", description="Keycloak service-account client id")
    client_secret: str = Field(default="", description="Client secret (use an EnvVar)")
    token_url: str = Field(default="", description="Token endpoint, if not the advertised one")
    timeout: float = Field(default=30.0, description="Seconds per Microcks request")
    grpc_endpoint: str = Field(
        default="", description="host:port of gRPC mocks; default as Microcks' UI derives it"
    )
    ws_endpoint: str = Field(
        default="",
        description="host:port of WebSocket event mocks; default the endpoint-WS Microcks "
        "advertises in /api/features/config",
    )

    @property
    def not_configured_reason(self) -> str | None:
        """Why this resource cannot be used, or None when it can."""
        if not self.base_url.strip():
            return f"Microcks is not configured: set {s.MICROCKS_URL}"
        if self.client_id and not self.client_secret:
            return f"Microcks client id is set but {s.MICROCKS_CLIENT_SECRET} is not"
        try:
            check_base_url(self.base_url)
            if self.token_url:
                check_base_url(self.token_url)
        except ConfigError as exc:
            return str(exc)
        return None

    @property
    def configured(self) -> bool:
        return self.not_configured_reason is None

    @property
    def credentials_fingerprint(self) -> str:
        """sha256 of URL, client id, secret and token URL: stored with an auth backoff (never
        the secret), so a changed credential ends that backoff at once."""
        return credentials_fingerprint(
            self.base_url, self.client_id, self.client_secret, self.token_url
        )

    @contextmanager
    def client(self, store: StatusStore | None = None) -> Iterator[MicrocksClient]:
        """A client for one evaluation or step, closed afterwards.

        With `store`, the token endpoint discovered by an earlier run for this Microcks URL is
        reused (no Keycloak config request) and a newly discovered one is remembered there.
        """
        reason = self.not_configured_reason
        if reason is not None:
            raise ConfigError(reason, field="microcks")
        base = check_base_url(self.base_url)
        tokens = TokenProvider(
            self.base_url,
            self.client_id,
            self.client_secret,
            timeout=self.timeout,
            token_url=self.token_url or None,
            known_token_url=store.known_token_endpoint(base) if store else None,
            on_discovered=(lambda url: store.remember_token_endpoint(base, url)) if store else None,
        )
        with MicrocksClient(
            self.base_url,
            token_provider=tokens,
            timeout=self.timeout,
            grpc_endpoint=self.grpc_endpoint.strip() or None,
            ws_endpoint=self.ws_endpoint.strip() or None,
        ) as client:
            yield client


_stores: dict[str, StatusStore] = {}
_stores_lock = threading.Lock()


class StatusStoreResource(dg.ConfigurableResource):
    """The status/events database; empty URL means the library's embedded SQLite default."""

    db_url: str = Field(default="", description=f"SQLAlchemy URL (default from {s.DB_URL})")

    def store(self) -> StatusStore:
        """The process-wide store for this URL, migrated on first use in this process."""
        key = self.db_url
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                store = StatusStore(url=self.db_url or None)
                store.migrate()
                _stores[key] = store
            return store


def _value(env: Mapping[str, str], name: str, default: str = "") -> str | dg.EnvVar:
    """An EnvVar when the variable is set (resolved at run time, shown by name in the UI)."""
    return dg.EnvVar(name) if env.get(name, "").strip() else default


def resources_from_env(env: Mapping[str, str] | None = None) -> dict[str, dg.ConfigurableResource]:
    """The three resources, configured from environment variables with local defaults."""
    env = os.environ if env is None else env
    backstage = env.get(s.BACKSTAGE_URL, "").strip()
    root_default = "" if backstage else s.DEFAULT_CATALOG_ROOT

    catalog = CatalogResource(
        root=_value(env, s.CATALOG_ROOT, root_default),
        backstage_url=_value(env, s.BACKSTAGE_URL),
        token=_value(env, s.BACKSTAGE_TOKEN),
        allowed_hosts=s.env_allowed_hosts(env),
        github_enterprise_hosts=s.env_hosts(env, s.GITHUB_ENTERPRISE_HOSTS),
        allow_http=s.env_bool(env, s.ALLOW_HTTP),
        allow_private=s.env_bool(env, s.ALLOW_PRIVATE),
        host_tokens=_value(env, s.HOST_TOKENS),
        max_bytes=s.env_int(env, s.ARTIFACT_MAX_BYTES, 0, minimum=0),
        timeout=s.env_float(env, s.HTTP_TIMEOUT, 10.0),
        remote_interval=s.env_float(env, s.REMOTE_INTERVAL, 300.0),
    )
    microcks = MicrocksResource(
        base_url=_value(env, s.MICROCKS_URL),
        client_id=_value(env, s.MICROCKS_CLIENT_ID),
        client_secret=_value(env, s.MICROCKS_CLIENT_SECRET),
        token_url=_value(env, s.MICROCKS_TOKEN_URL),
        timeout=s.env_float(env, s.MICROCKS_TIMEOUT, 30.0),
        grpc_endpoint=_value(env, s.MICROCKS_GRPC_ENDPOINT),
        ws_endpoint=_value(env, s.MICROCKS_WS_ENDPOINT),
    )
    status_store = StatusStoreResource(db_url=_value(env, s.DB_URL))
    return {"catalog": catalog, "microcks": microcks, "status_store": status_store}
