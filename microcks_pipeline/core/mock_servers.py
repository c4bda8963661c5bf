"""Servers the Backstage module injected into a definition, recognised and left out (pure).

The pipeline can read `spec.definition` back from Backstage after the module decorated it: an
OpenAPI 3 `servers` entry per served mock (the replaced plugin's description), an AsyncAPI
server `microcks-<mockId>`. Leaving them out before fingerprinting and stamping means a
decoration never changes a fingerprint, never causes a sync, and is never uploaded.
"""

from __future__ import annotations

import re
from typing import Any

MOCK_SERVER_EXTENSION = "x-microcks-pipeline-mock"
_DESCRIPTION = re.compile(
    r"Mocked Service \(.+\) with fixed responses for testing and development purposes"
)
_ASYNC_NAME = re.compile(r"microcks-.+")


def _marked(server: Any) -> bool:
    return isinstance(server, dict) and MOCK_SERVER_EXTENSION in server


def _described(server: Any) -> bool:
    description = server.get("description") if isinstance(server, dict) else None
    return isinstance(description, str) and _DESCRIPTION.fullmatch(description.strip()) is not None


def is_mock_server(server: Any, name: str | None = None) -> bool:
    """An entry the module injected: it carries the extension, or has the plugin's description
    (for an AsyncAPI server, under a `microcks-<mockId>` name)."""
    if _marked(server):
        return True
    if name is not None:
        return _ASYNC_NAME.fullmatch(name) is not None and _described(server)
    return _described(server)


def without_mock_servers(data: dict[str, Any]) -> dict[str, Any]:
    """The document without injected servers (a new top-level mapping; `data` is not changed).

    A `servers` collection left empty is dropped, so a definition the module gave its first
    servers reads the same as before; an empty `servers` of the author's means the same thing.
    """
    servers = data.get("servers")
    if isinstance(servers, list):
        kept: Any = [s for s in servers if not is_mock_server(s)]
    elif isinstance(servers, dict) and "asyncapi" in data:
        kept = {k: s for k, s in servers.items() if not is_mock_server(s, str(k))}
    else:
        return data
    if len(kept) == len(servers) and kept:
        return data
    out = dict(data)
    if kept:
        out["servers"] = kept
    else:
        del out["servers"]
    return out
