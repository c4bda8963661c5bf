"""The filesystem catalog source: API entities from catalog-info.yaml files under one root folder.

One walk of the root (hidden folders skipped) finds every `catalog-info.yaml` / `.yml`; the
`kind: Location` documents found there add more files, but only files that resolve inside the
root (symlinks resolved). A file is parsed only when its bytes changed since the last listing,
and read again only when filestat cannot prove it unchanged (every tick lists the whole
catalog, so this is what keeps an unchanged tick cheap). A file that cannot be read or
parsed, or a document that may be ours but is invalid, makes the snapshot incomplete (nothing
may be deleted on its account) while every other entity is still listed. Refused targets
(outside the root, URLs, other types) are recorded as problems but do not make it incomplete:
nothing behind them could ever be listed.
"""

from __future__ import annotations

import glob
import os
import re
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import yaml

from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.core.model import CatalogSnapshot, Entity, EntityLocation
from microcks_pipeline.core.yamlio import YamlError, compose_all, construct
from microcks_pipeline.sources.catalog.documents import (
    location_document,
    managed_api,
    normalize_ref,
)
from microcks_pipeline.sources.filestat import StatKey, stat_key, unchanged

CATALOG_FILE_NAMES = frozenset({"catalog-info.yaml", "catalog-info.yml"})
_GLOB_CHARS = frozenset("*?[")
# A run of characters that may be part of an entity name (Backstage: [a-zA-Z0-9-_.]), for
# telling which files may define an expected entity without parsing them.
_NAME_RUN = re.compile(rb"[a-z0-9_.-]+")


# What one document of a file contributes to a listing, replayed while the file is unchanged:
# ("entity", Entity, where) | ("follow", (type, targets), where) | ("fail", message, "").
# Paths are plain strings here: this loop runs once per catalog file on every tick.
_Outcome = tuple[str, object, str]
_Parsed = tuple[StatKey | None, bytes, list[_Outcome]]


class FilesystemCatalog:
    """Lists API entities from a folder; `get_entity` reuses the last listing for `cache_seconds`,
    then re-reads the entity's own file until `relist_seconds` have passed. After `expect`,
    a lookup of an expected entity parses only the files that may define one."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_file_bytes: int = 2 * 1024 * 1024,
        cache_seconds: float = 5.0,
        relist_seconds: float = 60.0,
    ) -> None:
        self.root = Path(root)
        self.max_file_bytes = max_file_bytes
        self.cache_seconds = cache_seconds
        self.relist_seconds = relist_seconds
        self._listed_at = float("-inf")  # time.monotonic() of the last listing
        self._parsed: dict[str, _Parsed] = {}
        self._listed: dict[str, Entity] = {}  # the last listing by ref
        self._partial = False  # the last listing looked only for the expected entities
        self._expected: frozenset[bytes] = frozenset()  # their names, lower-cased

    def list_entities(self) -> CatalogSnapshot:
        scan = _Scan(self.root.resolve(), self.max_file_bytes, self._parsed)
        snapshot = scan.run()
        # Keep only files seen in this listing, so deleted files do not pin memory.
        self._parsed = scan.parsed
        self._remember(snapshot, partial=False)
        return snapshot

    def expect(self, refs: Iterable[str]) -> None:
        """The entities the next lookups are for (a batch run's): the first lookup of one of
        them parses only the files that may define one of them, not the whole catalog."""
        self._expected = frozenset(_name_of(normalize_ref(r)) for r in refs)

    def _remember(self, snapshot: CatalogSnapshot, *, partial: bool) -> None:
        self._listed_at = time.monotonic()
        self._listed = {e.ref: e for e in snapshot.entities}
        self._partial = partial

    def get_entity(self, ref: str) -> Entity | None:
        """The entity with this ref (any case; `name`, `ns/name` or `api:ns/name`), or None.

        Within `cache_seconds` of a listing, from it. Later, and until `relist_seconds`, an
        entity that listing found is read again from its own file alone (proven unchanged by
        filestat, else re-parsed): a batch run asks for thousands of entities one by one, and a
        listing of a large catalog for each would cost more than its sync. An entity not found
        there (or not listed before) lists the whole catalog again.
        """
        wanted = normalize_ref(ref)
        age = time.monotonic() - self._listed_at
        listed = self._listed.get(wanted)
        if age <= self.cache_seconds and (listed is not None or not self._partial):
            return listed
        if listed is not None and age <= self.relist_seconds:
            entity = self._read_again(listed.location.target, wanted)
            if entity is not None:
                return entity
        if _name_of(wanted) in self._expected:
            found = self._list_expected().get(wanted)
            if found is not None:
                return found
        self.list_entities()
        return self._listed.get(wanted)

    def _list_expected(self) -> dict[str, Entity]:
        """A listing of the expected entities: the same walk, the same order and Location
        targets, every file read, but only files that may define one of them parsed (a
        file whose bytes hold none of their names, no escape and no Location cannot).
        What it does not find is looked for in a full listing."""
        scan = _Scan(self.root.resolve(), self.max_file_bytes, self._parsed, only=self._expected)
        snapshot = scan.run()
        self._parsed.update(scan.parsed)
        self._remember(snapshot, partial=True)
        return self._listed

    def _read_again(self, path: str, ref: str) -> Entity | None:
        """The entity `ref` as its file now defines it, or None (gone from it, unreadable)."""
        scan = _Scan(self.root.resolve(), self.max_file_bytes, self._parsed)
        scan.read_file(path)  # a Location it names is not followed: entities come from `path`
        if path in scan.parsed:
            self._parsed[path] = scan.parsed[path]
        return scan.entities.get(ref)


class _Scan:
    """One listing: a queue of files, each read once, and what was found in them."""

    def __init__(
        self,
        root: Path,
        max_file_bytes: int,
        previous: dict[str, _Parsed] | None = None,
        only: frozenset[bytes] | None = None,
    ) -> None:
        self.previous = previous or {}
        self.only = only  # parse only files that may define an entity of these names
        self.parsed: dict[str, _Parsed] = {}
        self.root = root
        self.max_file_bytes = max_file_bytes
        self.location = str(root)
        self.entities: dict[str, Entity] = {}
        self.first_seen: dict[str, str] = {}
        self.problems: list[str] = []
        self.complete = True
        self.queued: set[str] = set()
        self.queue: deque[str] = deque()

    def run(self) -> CatalogSnapshot:
        if not self.root.is_dir():
            self.problems.append(f"catalog root {self.root} is not a readable folder")
            return CatalogSnapshot(entities=(), complete=False, problems=tuple(self.problems))
        for path, trusted in self._walk():
            self._enqueue(path, referrer=None, trusted=trusted)
        while self.queue:
            self.read_file(self.queue.popleft())
        return CatalogSnapshot(
            entities=tuple(self.entities.values()),
            complete=self.complete,
            problems=tuple(self.problems),
        )

    def _walk(self) -> list[tuple[str, bool]]:
        """Catalog files in sorted depth-first order; `trusted` when the walk itself proves the
        file is inside the root (not a symlink, reached through real folders only)."""
        found: list[tuple[str, bool]] = []
        stack = [str(self.root)]
        while stack:
            folder = stack.pop()
            try:
                # Sorted, so "first definition wins" means the same file on every tick.
                entries = sorted(os.scandir(folder), key=_entry_name)
            except OSError as exc:
                self._fail(f"{self._show(folder)}: cannot be listed: {exc.strerror}")
                continue
            subfolders = []
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("."):
                        subfolders.append(entry.path)
                elif entry.name in CATALOG_FILE_NAMES:
                    found.append((entry.path, not entry.is_symlink()))
            stack.extend(reversed(subfolders))
        return found

    def _enqueue(self, path: str | Path, *, referrer: str | None, trusted: bool = False) -> None:
        """Queue a file once; `referrer` is the `file:line` of the Location that named it."""
        if trusted:
            assert isinstance(path, str)
            if path not in self.queued:
                self.queued.add(path)
                self.queue.append(path)
            return
        resolved = Path(path).resolve()
        what = f"{referrer}: Location target {self._show(path)!r}" if referrer else self._show(path)
        if not resolved.is_relative_to(self.root):
            self.problems.append(f"{what}: refused, it resolves outside the catalog root")
            return
        if not resolved.is_file():
            # Its entities are unknown (deleted file, or a typo): nothing may be deleted.
            self._fail(f"{what}: not a readable file")
            return
        if str(resolved) not in self.queued:
            self.queued.add(str(resolved))
            self.queue.append(str(resolved))

    def _show(self, path: str | Path) -> str:
        """A path for messages: relative to the root when it is inside."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _fail(self, message: str) -> None:
        self.complete = False
        self.problems.append(message)

    def read_file(self, path: str) -> None:
        cached = self.previous.get(path)
        if cached is not None and unchanged(path, cached[0]):
            self.parsed[path] = cached
            outcomes = cached[2]
        else:
            shown = self._show(path)
            try:
                with open(path, "rb") as fh:
                    data = fh.read(self.max_file_bytes + 1)
            except OSError as exc:
                self._fail(f"{shown}: cannot be read: {exc.strerror or type(exc).__name__}")
                return
            key = stat_key(path)
            if cached is not None and cached[1] == data:
                outcomes = cached[2]
            elif self.only is not None and not _may_define(data, self.only):
                return
            else:
                location = EntityLocation("file", path, repo_root=self.location)
                outcomes = _parse_file(data, location, shown, self.max_file_bytes)
            self.parsed[path] = (key, data, outcomes)
        for kind, value, where in outcomes:
            if kind == "entity":
                self._add(value, where)  # type: ignore[arg-type]
            elif kind == "follow":
                loc_type, targets = value  # type: ignore[misc]
                self._follow(loc_type, targets, path, where)
            else:
                self._fail(str(value))

    def _add(self, entity: Entity, where: str) -> None:
        ref = entity.ref
        if ref in self.entities:
            self.problems.append(
                f"{where}: {ref} is defined again (first in {self.first_seen[ref]}); "
                "this definition is ignored"
            )
            return
        self.entities[ref] = entity
        self.first_seen[ref] = where

    def _follow(
        self, loc_type: str | None, targets: tuple[str, ...], path: str, where: str
    ) -> None:
        for target in targets:
            kind = loc_type or ("url" if "://" in target else "file")
            if kind != "file":
                self.problems.append(
                    f"{where}: refused Location target {target!r} of type {kind!r}: "
                    "only file targets inside the catalog root are followed"
                )
                continue
            pattern = Path(path).parent / target
            if _GLOB_CHARS.isdisjoint(target):
                self._enqueue(pattern, referrer=where)
                continue
            matches = sorted(glob.glob(str(pattern), recursive=True))
            files = [Path(m) for m in matches if os.path.isfile(m)]
            if not files:
                self._fail(f"{where}: Location target {target!r} matches no file")
            for match in files:
                self._enqueue(match, referrer=where)


def _name_of(ref: str) -> bytes:
    return ref.rsplit("/", 1)[-1].encode("utf-8", "replace")


def _may_define(data: bytes, names: frozenset[bytes]) -> bool:
    """Whether a file may define an entity named in `names` or name other files (a Location).
    Escapes (a double-quoted name may spell itself with them) count as may; so does UTF-16 or
    UTF-32 text (NUL bytes), where a name is not its ASCII bytes."""
    lowered = data.lower()
    if b"\\" in lowered or b"\x00" in lowered or b"location" in lowered:
        return True
    return not names.isdisjoint(_NAME_RUN.findall(lowered))


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _parse_file(
    data: bytes, location: EntityLocation, shown: str, max_bytes: int
) -> list[_Outcome]:
    """What a file's documents contribute, independent of the rest of the listing."""
    try:
        nodes = compose_all(data, max_bytes=max_bytes)
    except YamlError as exc:
        return [("fail", f"{shown}:{exc.line}: {exc}" if exc.line else f"{shown}: {exc}", "")]
    outcomes: list[_Outcome] = []
    for node in nodes:
        line = node.start_mark.line + 1
        try:
            doc = construct(node)
            if doc is None:  # an empty document between `---` separators
                continue
            targets = location_document(doc)
            if targets is not None:
                outcomes.append(("follow", (targets.type, targets.targets), f"{shown}:{line}"))
                continue
            api = managed_api(doc)
        except YamlError as exc:
            outcomes.append(("fail", f"{shown}:{exc.line or line}: {exc}", ""))
            continue
        except ConfigError as exc:
            at = _field_line(node, exc.field) if exc.field else line
            outcomes.append(("fail", f"{shown}:{at}: {exc}", ""))
            continue
        if api is not None:
            outcomes.append(("entity", api.entity(location), f"{shown}:{line}"))
    return outcomes


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
