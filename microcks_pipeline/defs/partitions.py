"""One dynamic partition per API entity, and the reversible entity ref ↔ partition key mapping.

Dagster refuses partition keys containing `...` (its range separator) or the control characters
`\\a \\b \\f \\n \\r \\t \\v \\0` (dagster/_core/definitions/partitions/utils/base.py), and its
CLI splits `--partitions` on commas. Entity refs normally pass through unchanged
(`api:default/petstore`); anything else is percent-encoded, with `%` itself encoded first so
decoding is exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

import dagster as dg

entity_partitions = dg.DynamicPartitionsDefinition(name="api_entities")

# Characters kept as they are; everything else (control chars, `,`, `|`, `[`, `]`, `%`,
# spaces, non-ASCII) is percent-encoded as UTF-8 bytes.
_SAFE = re.compile(r"[A-Za-z0-9:/_.@~+=-]")


def _encode_char(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))


def partition_key(entity_ref: str) -> str:
    """The partition key of an entity: its ref, with unsafe characters percent-encoded."""
    out: list[str] = []
    for i, ch in enumerate(entity_ref):
        if ch == "." and entity_ref[i + 1 : i + 2] == ".":
            # Encoding every dot that starts a run of two leaves at most one literal dot in a row.
            out.append("%2E")
        elif _SAFE.fullmatch(ch):
            out.append(ch)
        else:
            out.append(_encode_char(ch))
    return "".join(out)


def entity_ref_of(key: str) -> str:
    """The entity ref a partition key stands for (inverse of partition_key)."""
    return unquote(key, errors="strict")


def add_entity_partitions(instance: dg.DagsterInstance, keys: Iterable[str]) -> list[str]:
    """Add the keys that are not partitions yet, in one call; returns those added.

    Sensors call this rather than return a partitions request: the daemon checks each requested
    key with a query of its own, about 2 s per 1,000 keys on SQLite."""
    existing = set(instance.get_dynamic_partitions(entity_partitions.name))
    new = [key for key in dict.fromkeys(keys) if key not in existing]
    if new:
        instance.add_dynamic_partitions(entity_partitions.name, new)
    return new


def remove_entity_partitions(instance: dg.DagsterInstance, keys: Iterable[str]) -> None:
    for key in keys:
        instance.delete_dynamic_partition(entity_partitions.name, key)
