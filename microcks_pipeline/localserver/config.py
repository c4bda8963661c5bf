"""Settings of the local Microcks-compatible server."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

DEFAULT_CLIENT_ID = "microcks-serviceaccount"
DEFAULT_CLIENT_ROLES = ["user", "manager"]
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # Spring's default multipart max-request-size


def _default_clients() -> dict[str, tuple[str, list[str]]]:
    return {}


@dataclass
class ServerConfig:
    """auth_enabled=False is Microcks with KEYCLOAK_ENABLED=false: every request is permitted.

    clients maps client_id -> (secret, roles). Left empty, it is filled with one client,
    `microcks-serviceaccount` with roles [user, manager] and `default_client_secret`
    (a random secret is generated when that is empty too; read it back from the config).
    jwt_clock_skew_seconds mirrors Spring Security's JwtTimestampValidator (60 s): a token
    stays accepted that long after its `exp`. Use Faults.expire_tokens() to force expiry.
    """

    auth_enabled: bool = True
    clients: dict[str, tuple[str, list[str]]] = field(default_factory=_default_clients)
    token_ttl_seconds: int = 300
    faults_enabled: bool = False
    max_upload_bytes: int = 2 * 1024 * 1024
    default_client_secret: str = ""
    jwt_clock_skew_seconds: int = 60
    # gRPC mocks: served on their own port when set (0 picks a free one); Microcks uses 9090.
    grpc_port: int | None = None
    # Async minion: `minion.restricted-frequencies` (seconds); an override shortens every period.
    async_frequencies: tuple[int, ...] = (3, 10, 30)
    async_frequency_override_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.token_ttl_seconds < 1:
            raise ValueError("token_ttl_seconds must be at least 1")
        if self.max_upload_bytes < 1:
            raise ValueError("max_upload_bytes must be at least 1")
        if self.jwt_clock_skew_seconds < 0:
            raise ValueError("jwt_clock_skew_seconds must not be negative")
        if self.grpc_port is not None and not 0 <= self.grpc_port <= 65535:
            raise ValueError("grpc_port must be between 0 and 65535")
        override = self.async_frequency_override_seconds
        if override is not None and override <= 0:
            raise ValueError("async_frequency_override_seconds must be positive")
        if not self.clients:
            if not self.default_client_secret:
                self.default_client_secret = secrets.token_urlsafe(24)
            self.clients = {
                DEFAULT_CLIENT_ID: (self.default_client_secret, list(DEFAULT_CLIENT_ROLES))
            }
        for client_id, entry in self.clients.items():
            if not client_id or not isinstance(entry, (tuple, list)) or len(entry) != 2:
                raise ValueError("clients must map a client id to (secret, roles)")
            secret, roles = entry
            if not secret:
                raise ValueError(f"client {client_id!r} has an empty secret")
            if not all(isinstance(role, str) for role in roles):
                raise ValueError(f"client {client_id!r} roles must be strings")

    def __repr__(self) -> str:
        # Secrets never appear in logs or tracebacks.
        return (
            f"ServerConfig(auth_enabled={self.auth_enabled}, clients={sorted(self.clients)}, "
            f"token_ttl_seconds={self.token_ttl_seconds}, faults_enabled={self.faults_enabled}, "
            f"max_upload_bytes={self.max_upload_bytes}, grpc_port={self.grpc_port}, "
            f"async_frequency_override_seconds={self.async_frequency_override_seconds})"
        )
