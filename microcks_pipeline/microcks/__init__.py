"""Microcks access: the HTTP client, the token provider and their errors."""

from microcks_pipeline.microcks.client import MicrocksClient
from microcks_pipeline.microcks.errors import (
    MicrocksBusy,
    MicrocksNoService,
    MicrocksRejected,
    MicrocksTimeout,
    MicrocksUnreachable,
)
from microcks_pipeline.microcks.token import TokenProvider

__all__ = [
    "MicrocksBusy",
    "MicrocksClient",
    "MicrocksNoService",
    "MicrocksRejected",
    "MicrocksTimeout",
    "MicrocksUnreachable",
    "TokenProvider",
]
