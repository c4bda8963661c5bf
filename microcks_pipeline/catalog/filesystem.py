"""The filesystem catalog source: API entities from catalog-info.yaml files under one root folder.

One walk of the root (hidden folders skipped) finds every `catalog-info.yaml` / `.yml`; the
`kind: Location` documents found there add more files, but only files that resolve inside the
root (symlinks resolved). Each file is read and parsed once. A file that cannot be read or
parsed, or a document that may be ours but is invalid, makes the snapshot incomplete (nothing
may be deleted on its account) while every other entity is still listed. Refused targets
(outside the root, URLs, other types) are recorded as problems but do not make it incomplete:
nothing behind them could ever be listed.
"""

from __future__ import annotations

import glob
import os
import time
from collections import deque
from pathlib import Path

import yaml

from microcks_pipeline.catalog.documents import (
    ApiDocument,
    location_document,
    managed_api,
    normalize_ref,
)
from microcks_pipeline.catalog.entity import CatalogSnapshot, Entity, EntityLocation
from microcks_pipeline.errors import ConfigError
from microcks_pipeline.yamlio import YamlError, compose_all, construct

CATALOG_FILE_NAMES = frozenset({"catalog-info.yaml", "catalog-info.yml"})
_GLOB_CHARS = frozenset("*?[")


class FilesystemCatalog:
    """Lists API entities from a folder; `get_entity` reuses the last listing for `cache_seconds`."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_file_bytes: int = 2 * 1024 * 1024,
        cache_seconds: float = 5.0,
    ) -> None:
        self.root = Path(root)
        self.max_file_bytes = max_file_bytes
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, CatalogSnapshot] | None = None

    def list_entities(self) -> CatalogSnapshot:
        snapshot = _Scan(self.root.resolve(), self.max_file_bytes).run()
        self._cached = (time.monotonic(), snapshot)
        return snapshot

    def get_entity(self, ref: str) -> Entity | None:
        """The listed entity with this ref (any case; `name`, `ns/name` or `api:ns/name`)."""
        cached = self._cached
        if cached is None or time.monotonic() - cached[0] > self.cache_seconds:
            snapshot = self.list_entities()
        else:
            snapshot = cached[1]
        wanted = normalize_ref(ref)
        for entity in snapshot.entities:
            if entity.ref == wanted:
                return entity
        return None


class _Scan:
    """One listing: a queue of files, each read once, and what was found in them."""

    def __init__(self, root: Path, max_file_bytes: int) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self.location = str(root)
        self.entities: dict[str, Entity] = {}
        self.first_seen: dict[str, str] = {}
        self.problems: list[str] = []
        self.complete = True
        self.queued: set[Path] = set()
        self.queue: deque[Path] = deque()

    def run(self) -> CatalogSnapshot:
        if not self.root.is_dir():
            self.problems.append(f"catalog root {self.root} is not a readable folder")
            return CatalogSnapshot(entities=(), complete=False, problems=tuple(self.problems))
        for path in self._walk():
            self._enqueue(path, referrer=None)
        while self.queue:
            self._read_file(self.queue.popleft())
        return CatalogSnapshot(
            entities=tuple(self.entities.values()),
            complete=self.complete,
            problems=tuple(self.problems),
        )

    def _walk(self) -> list[Path]:
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            # Sorted, so "first definition wins" means the same file on every tick.
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name in CATALOG_FILE_NAMES:
                    found.append(Path(dirpath, name))
        return found

    def _enqueue(self, path: Path, *, referrer: str | None) -> None:
        """Queue a file once; `referrer` is the `file:line` of the Location that named it."""
        resolved = path.resolve()
        what = f"{referrer}: Location target {self._show(path)!r}" if referrer else self._show(path)
        if not resolved.is_relative_to(self.root):
            self.problems.append(f"{what}: refused, it resolves outside the catalog root")
            return
        if not resolved.is_file():
            # Its entities are unknown (deleted file, or a typo): nothing may be deleted.
            self._fail(f"{what}: not a readable file")
            return
        if resolved not in self.queued:
            self.queued.add(resolved)
            self.queue.append(resolved)

    def _show(self, path: Path) -> str:
        """A path for messages: relative to the root when it is inside."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _fail(self, message: str) -> None:
        self.complete = False
        self.problems.append(message)

    def _read_file(self, path: Path) -> None:
        shown = self._show(path)
        try:
            with path.open("rb") as fh:
                data = fh.read(self.max_file_bytes + 1)
        except OSError as exc:
            self._fail(f"{shown}: cannot be read: {exc.strerror or type(exc).__name__}")
            return
        try:
            nodes = compose_all(data, max_bytes=self.max_file_bytes)
        except YamlError as exc:
            self._fail(f"{shown}:{exc.line}: {exc}" if exc.line else f"{shown}: {exc}")
            return
        location = EntityLocation("file", str(path), repo_root=self.location)
        for node in nodes:
            self._read_document(node, path, shown, location)

    def _read_document(
        self, node: yaml.Node, path: Path, shown: str, location: EntityLocation
    ) -> None:
        line = node.start_mark.line + 1
        try:
            doc = construct(node)
            if doc is None:  # an empty document between `---` separators
                return
            targets = location_document(doc)
            if targets is not None:
                self._follow(targets.type, targets.targets, path, f"{shown}:{line}")
                return
            api = managed_api(doc)
        except YamlError as exc:
            self._fail(f"{shown}:{exc.line or line}: {exc}")
            return
        except ConfigError as exc:
            at = _field_line(node, exc.field) if exc.field else line
            self._fail(f"{shown}:{at}: {exc}")
            return
        if api is not None:
            self._add(api, location, f"{shown}:{line}")

    def _add(self, api: ApiDocument, location: EntityLocation, where: str) -> None:
        ref = api.ref
        if ref in self.entities:
            self.problems.append(
                f"{where}: {ref} is defined again (first in {self.first_seen[ref]}); "
                "this definition is ignored"
            )
            return
        self.entities[ref] = api.entity(location)
        self.first_seen[ref] = where

    def _follow(
        self, loc_type: str | None, targets: tuple[str, ...], path: Path, where: str
    ) -> None:
        for target in targets:
            kind = loc_type or ("url" if "://" in target else "file")
            if kind != "file":
                self.problems.append(
                    f"{where}: refused Location target {target!r} of type {kind!r}: "
                    "only file targets inside the catalog root are followed"
                )
                continue
            pattern = path.parent / target
            if _GLOB_CHARS.isdisjoint(target):
                self._enqueue(pattern, referrer=where)
                continue
            matches = sorted(glob.glob(str(pattern), recursive=True))
            files = [Path(m) for m in matches if os.path.isfile(m)]
            if not files:
                self._fail(f"{where}: Location target {target!r} matches no file")
            for match in files:
                self._enqueue(match, referrer=where)


def _field_line(node: yaml.Node, field: str) -> int:
    """The 1-based line of a dotted field in a composed document (as deep as it exists)."""
    line = node.start_mark.line + 1
    rest = field
    while rest and isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else None
            if isinstance(k, str) and (rest == k or rest.startswith(k + ".")):
                line = key.start_mark.line + 1
                node, rest = value, rest[len(k) + 1 :]
                break
        else:
            break
    return line
