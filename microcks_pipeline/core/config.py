"""Parse and validate one microcks.yaml into mock specs, naming file, line and field (pure).

The rules live in one place, `schema/microcks.schema.json`; this module validates with it and
turns each schema error into `file:line: field '…': message`, the line taken from PyYAML's node
graph (only the nodes keep line marks) and the message from the rule's `x-message`. The parser
adds what a schema of one value cannot see: duplicate keys and mockIds, several documents.

Problems are kept per mock: a problem inside one entry of `spec.mocks` makes that mock invalid
(`MicrocksConfig.invalid`) and leaves the others usable. Only a file that cannot be parsed, or a
problem outside the entries (apiVersion, kind, spec, spec.mocks), raises `ConfigProblems`. An
entry whose mockId is missing or invalid is named by its position, `spec.mocks[<i>]`, which no
valid mockId can equal. Unknown keys are warnings, with a "did you mean" for near misses.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import yaml

from microcks_pipeline.core.config_schema import _path_validator, _validator
from microcks_pipeline.core.config_wording import (
    _TAG,
    Path_,
    _display_key,
    _escape,
    _field,
    _Invalid,
    _is_str,
    _jsonable,
    _line,
    _message,
    _near_miss,
)
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.core.identity import MOCK_ID_PATTERN
from microcks_pipeline.core.yamlio import YamlError, compose_all, new_constructor

CONFIG_FILE_NAME = "microcks.yaml"
API_VERSION = "bcgov.dev/v1alpha1"
KIND = "MicrocksSync"

_MERGE_TAG = _TAG + "merge"
_MOCKS = ("spec", "mocks")


@dataclass(frozen=True)
class ArtifactRef:
    kind: str  # free-text label (examples, metadata, ...)
    path: str  # repo-relative path or absolute http(s) URL, as written
    line: int | None  # 1-based YAML line of the artifact entry
    field_name: str | None = field(default=None, compare=False)  # spec.mocks[i].artifacts[j].path


@dataclass(frozen=True)
class MockSpec:
    mock_id: str
    include_in_swagger: bool
    main_path: str | None  # `main.path` or `openapi.path`; None: the entity's spec.definition
    artifacts: tuple[ArtifactRef, ...]  # in file order, which is the upload order
    # This mock's own entry as JSON-able data; it goes into the fingerprint. Do not mutate.
    entry: Mapping[str, Any] = field(hash=False)
    line: int | None = None
    field_name: str | None = field(default=None, compare=False)  # spec.mocks[i]
    main_line: int | None = field(default=None, compare=False)  # line of `main.path`
    main_field: str | None = field(default=None, compare=False)  # spec.mocks[i].main.path


@dataclass(frozen=True)
class InvalidMock:
    """A mock whose entry (or entries, for a duplicate mockId) has problems: it alone fails."""

    mock_id: str  # the mockId, or `spec.mocks[<i>]` when the entry has no valid mockId
    problems: tuple[ConfigError, ...]

    @property
    def reason(self) -> str:
        return "; ".join(str(p) for p in self.problems)


@dataclass(frozen=True)
class MicrocksConfig:
    file: str  # display name used in messages
    mocks: tuple[MockSpec, ...]
    warnings: tuple[str, ...] = ()
    invalid: tuple[InvalidMock, ...] = ()

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        """Every problem of the invalid mocks, in line order."""
        found = [p for m in self.invalid for p in m.problems]
        return tuple(sorted(found, key=lambda p: p.line or 0))


class ConfigProblems(ConfigError):
    """A microcks.yaml that fails as a whole: the message lists every problem, one per line.

    `problems` holds all of them (whole-file and per-mock); `warnings` the unknown keys."""

    def __init__(
        self, file: str, problems: list[ConfigError], warnings: tuple[str, ...] = ()
    ) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.file = file
        self.line = problems[0].line
        self.field = problems[0].field
        self.problems = problems
        self.warnings = warnings


def path_problem(path: str) -> str | None:
    """Why the schema refuses an artifact path written in microcks.yaml, or None.

    This catches absolute paths and bad URLs early, with the author's line number. A `..` is
    left to the artifact reader, which resolves it and then checks that the result stays inside
    the entity's repository, the rule `$text` follows too."""
    for error in _path_validator().iter_errors(path):
        return _message(error)
    return None


def parse_config(text: str | bytes, file: str) -> MicrocksConfig:
    """The mocks declared by one microcks.yaml, each valid or with its problems.

    Raises ConfigProblems when the file as a whole is unusable."""
    try:
        docs = compose_all(text)
    except YamlError as exc:
        message = " ".join(str(exc).split())  # one line per problem, whatever PyYAML wrote
        raise ConfigProblems(file, [ConfigError(message, file=file, line=exc.line)]) from None
    if not docs:
        raise ConfigProblems(file, [ConfigError("empty microcks.yaml", file=file)])
    doc = _Document(file)
    try:
        value = doc.value(docs[0], ())
    except RecursionError:
        raise ConfigProblems(file, [ConfigError("YAML nests too deeply", file=file)]) from None
    finally:
        doc.close()
    if len(docs) > 1:
        message = f"found {len(docs)} YAML documents; microcks.yaml must hold exactly one"
        doc.error((), message, line=_line(docs[1]), field_name=None)
    doc.check(value)
    return doc.result(value)


class _Document:
    """One document's values, the line of every location, and the problems found in it."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.problems: list[tuple[Path_, ConfigError]] = []
        self.warnings: list[tuple[int, str]] = []
        self._constructor = new_constructor()

    def close(self) -> None:
        self._constructor.dispose()

    def error(
        self, at: Path_, message: str, *, line: int | None = None, field_name: str | None = ""
    ) -> None:
        """A problem at `at`; its field is the dotted path unless `field_name` says otherwise."""
        name = _field(at) if field_name == "" else field_name
        where = line if line is not None else self.line(at)
        self.problems.append((at, ConfigError(message, file=self.file, line=where, field=name)))

    def line(self, at: Path_) -> int | None:
        while at not in self.lines and at:
            at = at[:-1]
        return self.lines.get(at)

    # ---- nodes → values ---------------------------------------------------------------------

    def value(self, node: yaml.Node, at: Path_) -> Any:
        self.lines.setdefault(at, _line(node))
        if isinstance(node, yaml.MappingNode):
            pairs = self._pairs(node, at, set())
            for key, (key_node, _) in pairs.items():
                self.lines[(*at, key)] = _line(key_node)
            return {key: self.value(v, (*at, key)) for key, (_, v) in pairs.items()}
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*at, i)) for i, item in enumerate(node.value)]
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            problem = " ".join(str(exc.problem or exc).split())
            self.error(at, f"invalid YAML value: {problem}")
            return _Invalid()

    def _pairs(
        self, node: yaml.MappingNode, at: Path_, visiting: set[int]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key → (key node, value node), merges applied as YAML does (explicit keys win)."""
        visiting = visiting | {id(node)}
        explicit: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merged: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if not isinstance(source, yaml.MappingNode) or id(source) in visiting:
                        self.error(at, "'<<' must merge mappings", line=_line(source))
                        continue
                    for key, pair in self._pairs(source, at, visiting).items():
                        merged.setdefault(key, pair)  # earlier sources win, as in YAML
                continue
            key = key_node.value if _is_str(key_node) else _display_key(key_node)
            if key in explicit:
                first = _line(explicit[key][0])
                message = f"duplicate key (first at line {first})"
                self.error((*at, key), message, line=_line(key_node))
                continue
            explicit[key] = (key_node, value_node)
        return {**merged, **explicit}

    # ---- rules ------------------------------------------------------------------------------

    def check(self, value: Any) -> None:
        """Every schema error as a problem (unknown keys as warnings), then duplicate mockIds."""
        for error in _validator().iter_errors(value):
            at: Path_ = tuple(error.absolute_path)
            if error.validator == "additionalProperties":
                self._unknown_keys(error, at)
            elif error.validator == "required":
                for name in error.validator_value:
                    if name not in error.instance:
                        hint = _near_miss(name, error.instance, error.schema)
                        self.error((*at, name), "required field is missing" + hint)
            else:
                self.error(at, _message(error))
        self._duplicate_mock_ids(value)

    def _unknown_keys(self, error: jsonschema.ValidationError, at: Path_) -> None:
        known = error.schema.get("properties", {})
        for key in error.instance:
            if key not in known:
                guess = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                hint = f" (did you mean '{guess[0]}'?)" if guess else ""
                text = str(
                    ConfigError(
                        f"unknown key '{_escape(key)}'{hint}",
                        file=self.file,
                        line=self.line((*at, key)),
                        field=_field(at),
                    )
                )
                self.warnings.append((self.line((*at, key)) or 0, text))

    def _duplicate_mock_ids(self, value: Any) -> None:
        mocks = value.get("spec", {}).get("mocks") if isinstance(value, dict) else None
        if not isinstance(mocks, list) or not isinstance(value["spec"], dict):
            return
        seen: dict[str, int | None] = {}
        for i, entry in enumerate(mocks):
            mock_id = _valid_id(entry)
            if mock_id is None:
                continue
            at = (*_MOCKS, i, "mockId")
            if mock_id in seen:
                self.error(at, f"duplicate mockId '{mock_id}' (first at line {seen[mock_id]})")
            else:
                seen[mock_id] = self.line(at)

    # ---- result -----------------------------------------------------------------------------

    def result(self, value: Any) -> MicrocksConfig:
        warnings = tuple(text for _, text in sorted(self.warnings, key=lambda w: w[0]))
        whole = [p for at, p in self.problems if _entry_index(at) is None]
        if whole:
            every = sorted(_unique(p for _, p in self.problems), key=lambda p: p.line or 0)
            raise ConfigProblems(self.file, every, warnings)
        entries: list[Any] = value["spec"]["mocks"]
        failing: dict[str, list[ConfigError]] = {}
        for at, problem in self.problems:
            index = _entry_index(at)
            assert index is not None
            failing.setdefault(_mock_key(entries[index], index), []).append(problem)
        mocks = tuple(
            self._mock(entry, i)
            for i, entry in enumerate(entries)
            if _mock_key(entry, i) not in failing
        )
        invalid = tuple(
            InvalidMock(key, tuple(sorted(_unique(found), key=lambda p: p.line or 0)))
            for key, found in failing.items()
        )
        return MicrocksConfig(self.file, mocks, warnings, invalid)

    def _mock(self, entry: dict[str, Any], index: int) -> MockSpec:
        at = (*_MOCKS, index)
        artifacts = tuple(
            ArtifactRef(
                a["kind"],
                a["path"],
                self.line((*at, "artifacts", j)),
                _field((*at, "artifacts", j, "path")),
            )
            for j, a in enumerate(entry.get("artifacts", ()))
        )
        key = "main" if entry.get("main") is not None else "openapi"
        main = entry.get(key)
        return MockSpec(
            mock_id=entry["mockId"],
            include_in_swagger=entry.get("includeInSwagger", True),
            main_path=main["path"] if main is not None else None,
            artifacts=artifacts,
            entry=_jsonable(entry),
            line=self.line(at),
            field_name=_field(at),
            main_line=self.line((*at, key, "path")) if main is not None else None,
            main_field=_field((*at, key, "path")) if main is not None else None,
        )


def _entry_index(at: Path_) -> int | None:
    """The index of the mock entry `at` lies in, or None for a whole-file location."""
    if len(at) >= 3 and at[:2] == _MOCKS and isinstance(at[2], int):
        return at[2]
    return None


def _valid_id(entry: Any) -> str | None:
    mock_id = entry.get("mockId") if isinstance(entry, dict) else None
    return mock_id if isinstance(mock_id, str) and MOCK_ID_PATTERN.fullmatch(mock_id) else None


def _mock_key(entry: Any, index: int) -> str:
    return _valid_id(entry) or f"spec.mocks[{index}]"


def _unique(problems: Any) -> list[ConfigError]:
    """One problem per field (the first the rules found), whole-document problems all kept."""
    out: list[ConfigError] = []
    fields: set[str] = set()
    for problem in problems:
        if problem.field is not None:
            if problem.field in fields:
                continue
            fields.add(problem.field)
        out.append(problem)
    return out
