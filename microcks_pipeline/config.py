"""Parse and validate one microcks.yaml into mock specs, naming file, line and field (pure).

We walk PyYAML's node graph rather than the loaded values because only the nodes keep line
marks. Every violation is collected, so one run shows the author all of them; unknown keys are
warnings. `schema/microcks.schema.json` describes the same rules for editors and CI; the tests
keep the two in step.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from microcks_pipeline.errors import ConfigError
from microcks_pipeline.identity import MOCK_ID_PATTERN
from microcks_pipeline.yamlio import YamlError, compose_all, construct

CONFIG_FILE_NAME = "microcks.yaml"
API_VERSION = "bcgov.dev/v1alpha1"
KIND = "MicrocksSync"

# Path rules, written identically in the JSON Schema's `$defs.path`.
_HTTP_URL = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+([/?#]|$)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _TAG + "merge"
_ROOT_KEYS = ("apiVersion", "kind", "spec")
_SPEC_KEYS = ("mocks",)
_MOCK_KEYS = ("mockId", "includeInSwagger", "openapi", "artifacts")
_OPENAPI_KEYS = ("path",)
_ARTIFACT_KEYS = ("kind", "path")


@dataclass(frozen=True)
class ArtifactRef:
    kind: str  # free-text label (examples, metadata, ...)
    path: str  # repo-relative path or absolute http(s) URL, as written
    line: int | None  # 1-based YAML line of the artifact entry


@dataclass(frozen=True)
class MockSpec:
    mock_id: str
    include_in_swagger: bool
    openapi_path: str | None  # None: the entity's spec.definition is the main artifact
    artifacts: tuple[ArtifactRef, ...]  # in file order, which is the upload order
    # This mock's own entry as JSON-able data; it goes into the fingerprint. Do not mutate.
    entry: Mapping[str, Any] = field(hash=False)
    line: int | None = None


@dataclass(frozen=True)
class MicrocksConfig:
    file: str  # display name used in messages
    mocks: tuple[MockSpec, ...]
    warnings: tuple[str, ...] = ()


class ConfigProblems(ConfigError):
    """Every problem found in one microcks.yaml: the message lists them, one per line."""

    def __init__(self, file: str, problems: list[ConfigError]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.file = file
        self.line = problems[0].line
        self.field = problems[0].field
        self.problems = problems


def path_problem(path: str) -> str | None:
    """Why an artifact path written in microcks.yaml is refused, or None when it is acceptable.

    This catches absolute paths and bad URLs early, with the author's line number. A `..`
    is left to the artifact reader, which resolves it and then checks that the result stays
    inside the entity's repository, the rule `$text` follows too.
    """
    if not path.strip():
        return "must be a non-empty string"
    if _CONTROL.search(path):
        return "path contains a control character"
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        return "absolute paths are not allowed; write a path relative to microcks.yaml"
    scheme = _SCHEME.match(path)
    if scheme is None:
        return None
    name = scheme.group(0)[:-1].lower()
    if name == "file":
        return "file: URLs are not allowed; write a path relative to microcks.yaml"
    if name not in ("http", "https"):
        return f"unsupported URL scheme '{name}:'; use a relative path or an http(s) URL"
    if _USERINFO.match(path):
        return "credentials in URLs are not allowed; configure a token for the host instead"
    if not _HTTP_URL.match(path):
        return "malformed URL; expected http(s)://host/path"
    return None


def parse_config(text: str | bytes, file: str) -> MicrocksConfig:
    """The mocks declared by one microcks.yaml; raises ConfigProblems listing every violation."""
    walk = _Walk(file)
    try:
        docs = compose_all(text)
    except YamlError as exc:
        message = " ".join(str(exc).split())  # one line per problem, whatever PyYAML wrote
        raise ConfigProblems(file, [ConfigError(message, file=file, line=exc.line)]) from None
    if not docs:
        raise ConfigProblems(file, [ConfigError("empty microcks.yaml", file=file)])
    if len(docs) > 1:
        walk.error(
            docs[1],
            None,
            f"found {len(docs)} YAML documents; microcks.yaml must hold exactly one",
        )
    mocks = walk.root(docs[0])
    if walk.problems:
        raise ConfigProblems(file, sorted(walk.problems, key=lambda p: p.line or 0))
    return MicrocksConfig(file=file, mocks=mocks, warnings=tuple(walk.warnings))


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of microcks.yaml, shipped inside the package."""
    text = resources.files("microcks_pipeline").joinpath("schema/microcks.schema.json").read_text()
    return json.loads(text)


class _Walk:
    """One pass over a document's nodes, collecting problems and warnings with their lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[ConfigError] = []
        self.warnings: list[str] = []

    def error(self, at: yaml.Node | int | None, fld: str | None, message: str) -> None:
        line = _line(at) if isinstance(at, yaml.Node) else at
        self.problems.append(ConfigError(message, file=self.file, line=line, field=fld))

    def warn(self, at: yaml.Node, fld: str, message: str) -> None:
        self.warnings.append(str(ConfigError(message, file=self.file, line=_line(at), field=fld)))

    def mapping(
        self, node: yaml.Node, fld: str, known: tuple[str, ...]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """Key -> (key node, value node), merges applied; warns on unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            where = f"'{fld}' " if fld else "the document "
            self.error(node, fld or None, f"{where}must be a mapping, found {_kind(node)}")
            return None
        pairs = self._pairs(node, fld, set())
        for key, (key_node, _) in pairs.items():
            if key not in known:
                self.warn(key_node, _join(fld, key), "unknown key")
        return pairs

    def _pairs(
        self, node: yaml.MappingNode, fld: str, visiting: set[int]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
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
                        self.error(source, fld or None, "'<<' must merge mappings")
                        continue
                    for key, pair in self._pairs(source, fld, visiting).items():
                        merged.setdefault(key, pair)  # earlier sources win, as in YAML
                continue
            key = key_node.value if _is(key_node, "str") else _display_key(key_node)
            key = _escape(key)
            if key in explicit:
                first = _line(explicit[key][0])
                self.error(key_node, _join(fld, key), f"duplicate key (first at line {first})")
                continue
            explicit[key] = (key_node, value_node)
        return {**merged, **explicit}

    def root(self, node: yaml.Node) -> tuple[MockSpec, ...]:
        top = self.mapping(node, "", _ROOT_KEYS)
        if top is None:
            return ()
        for key, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
            if key in top:
                value = top[key][1]
                if not (_is(value, "str") and value.value == expected):
                    self.error(value, key, f"must be '{expected}', found {_show(value)}")
        if "spec" not in top:
            self.error(node, "spec", "required field is missing")
            return ()
        spec = self.mapping(top["spec"][1], "spec", _SPEC_KEYS)
        if spec is None:
            return ()
        if "mocks" not in spec:
            self.error(top["spec"][0], "spec.mocks", "required field is missing")
            return ()
        mocks_node = spec["mocks"][1]
        if not isinstance(mocks_node, yaml.SequenceNode) or not mocks_node.value:
            found = (
                "an empty list" if isinstance(mocks_node, yaml.SequenceNode) else _kind(mocks_node)
            )
            self.error(
                mocks_node, "spec.mocks", f"must be a non-empty list of mocks, found {found}"
            )
            return ()
        seen: dict[str, int] = {}
        out: list[MockSpec] = []
        for i, entry in enumerate(mocks_node.value):
            mock = self.mock(entry, f"spec.mocks[{i}]", seen)
            if mock is not None:
                out.append(mock)
        return tuple(out)

    def mock(self, node: yaml.Node, fld: str, seen: dict[str, int]) -> MockSpec | None:
        m = self.mapping(node, fld, _MOCK_KEYS)
        if m is None:
            return None
        before = len(self.problems)
        mock_id = ""
        if "mockId" not in m:
            self.error(node, f"{fld}.mockId", "required field is missing")
        else:
            id_node = m["mockId"][1]
            if not _is(id_node, "str"):
                self.error(id_node, f"{fld}.mockId", f"must be a string, found {_kind(id_node)}")
            elif not MOCK_ID_PATTERN.fullmatch(id_node.value):  # `$` alone allows a final "\n"
                self.error(
                    id_node,
                    f"{fld}.mockId",
                    f"mockId {_show(id_node)} must match {MOCK_ID_PATTERN.pattern} "
                    "(letters, digits, '.', '_', '-'; at most 63 characters)",
                )
            elif id_node.value in seen:
                self.error(
                    id_node,
                    f"{fld}.mockId",
                    f"duplicate mockId '{id_node.value}' (first at line {seen[id_node.value]})",
                )
            else:
                mock_id = id_node.value
                seen[mock_id] = _line(id_node)
        include = True
        if "includeInSwagger" in m:
            flag = m["includeInSwagger"][1]
            if _is(flag, "bool"):
                include = yaml.SafeLoader.bool_values[flag.value.lower()]
            else:
                self.error(
                    flag, f"{fld}.includeInSwagger", f"must be true or false, found {_show(flag)}"
                )
        openapi_path = None
        if "openapi" in m:
            openapi = self.mapping(m["openapi"][1], f"{fld}.openapi", _OPENAPI_KEYS)
            if openapi is not None:
                openapi_path = self.path(openapi, m["openapi"][0], f"{fld}.openapi")
        artifacts = (
            self.artifacts(m["artifacts"][1], f"{fld}.artifacts") if "artifacts" in m else ()
        )
        if len(self.problems) > before:
            return None
        entry = self.entry(node, fld)
        if entry is None:
            return None
        return MockSpec(mock_id, include, openapi_path, artifacts, entry, _line(node))

    def artifacts(self, node: yaml.Node, fld: str) -> tuple[ArtifactRef, ...]:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, fld, f"must be a list of artifacts, found {_kind(node)}")
            return ()
        out: list[ArtifactRef] = []
        for i, entry in enumerate(node.value):
            a = self.mapping(entry, f"{fld}[{i}]", _ARTIFACT_KEYS)
            if a is None:
                continue
            kind = self.text(a, entry, f"{fld}[{i}]", "kind")
            path = self.path(a, entry, f"{fld}[{i}]")
            if kind is not None and path is not None:
                out.append(ArtifactRef(kind=kind, path=path, line=_line(entry)))
        return tuple(out)

    def text(self, m: dict, owner: yaml.Node, fld: str, key: str) -> str | None:
        """A required non-empty string field of mapping `m`."""
        if key not in m:
            self.error(owner, f"{fld}.{key}", "required field is missing")
            return None
        node = m[key][1]
        if not _is(node, "str") or not node.value.strip():
            self.error(node, f"{fld}.{key}", f"must be a non-empty string, found {_show(node)}")
            return None
        return node.value

    def path(self, m: dict, owner: yaml.Node, fld: str) -> str | None:
        path = self.text(m, owner, fld, "path")
        if path is None:
            return None
        problem = path_problem(path)
        if problem is not None:
            self.error(m["path"][1], f"{fld}.path", problem)
            return None
        return path

    def entry(self, node: yaml.Node, fld: str) -> dict[str, Any] | None:
        try:
            return _jsonable(construct(node))
        except YamlError as exc:
            self.error(exc.line, fld, " ".join(str(exc).split()))
            return None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _is(node: yaml.Node, tag: str) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _TAG + tag


def _join(fld: str, key: str) -> str:
    return f"{fld}.{key}" if fld else key


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "an empty list" if not node.value else "a list"
    names = {"null": "null", "bool": "a boolean", "int": "a number", "float": "a number"}
    names |= {"str": "a string", "timestamp": "a date", "binary": "binary data"}
    return names.get(node.tag.removeprefix(_TAG), f"a value tagged {node.tag}")


def _show(node: yaml.Node) -> str:
    """A short rendering of a scalar for messages (long values are cut)."""
    if not isinstance(node, yaml.ScalarNode) or node.tag == _TAG + "null":
        return _kind(node)
    value = node.value if len(node.value) <= 80 else node.value[:77] + "..."
    value = _escape(value)
    return f"'{value}'" if node.tag == _TAG + "str" else f"{_kind(node)} {value}"


def _display_key(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else f"<{_kind(node)}>"


def _escape(text: str) -> str:
    """Control characters written as escapes, so each message stays on one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _jsonable(value: Any) -> Any:
    """Plain JSON data (str keys, finite floats, ISO dates) so the entry hashes canonically."""
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else json.dumps(_jsonable(k)): _jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set):
        return sorted((_jsonable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)
