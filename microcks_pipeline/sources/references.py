"""The repository files and URLs one microcks.yaml names, checked the way the sync reads them.

`validate` uses this so a pre-commit hook or CI catches what the sync would refuse: every path
goes through the sync's `ArtifactReader` (inside the repository, no symlink out, a regular file
under the size cap) and every URL through its URL policy (`check_url`), without fetching it.
A file must also be what its entry claims: `main.path` (or `openapi.path`) a main artifact of a
kind Microcks imports and detects as such (kinds/), an artifact of kind `examples` an
APIExamples document (or a Postman collection or HAR archive), of kind `metadata` an APIMetadata
one (other kinds are free labels).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from microcks_pipeline.core.config import MicrocksConfig
from microcks_pipeline.core.documents import parse_document
from microcks_pipeline.core.errors import ConfigError, PipelineError
from microcks_pipeline.kinds import read_main, read_secondary
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog.entity import EntityLocation
from microcks_pipeline.sources.urls import check_url

# What an artifact's `kind` label promises about its document.
CLAIMED_KINDS = {
    "examples": "APIExamples",
    "apiexamples": "APIExamples",
    "metadata": "APIMetadata",
    "apimetadata": "APIMetadata",
}
_URL = re.compile(r"^https?://", re.IGNORECASE)


def repository_root(config_file: Path) -> Path:
    """The folder of the nearest `.git` above the file (a work tree or a worktree's `.git`
    file), else the file's own folder."""
    folder = config_file.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


def reference_problems(
    config: MicrocksConfig,
    config_file: Path,
    repo_root: Path,
    reader: ArtifactReader,
    *,
    check_hosts: bool = True,
) -> list[ConfigError]:
    """A problem (file:line:field) per referenced file or URL the sync would refuse.

    `check_hosts` False skips the host allow-list, for a check that does not know the
    deployment's list; scheme and credentials are checked either way."""
    location = EntityLocation("file", str(config_file.resolve()), str(repo_root.resolve()))
    base = str(config_file.resolve().parent)
    problems: list[ConfigError] = []
    for mock in config.mocks:
        refs: list[tuple[str, str | None, int | None, str | None]] = []
        if mock.main_path is not None:
            refs.append((mock.main_path, None, mock.main_line, mock.main_field))
        refs.extend((a.path, a.kind, a.line, a.field_name) for a in mock.artifacts)
        for ref, kind, line, field_name in refs:
            if _URL.match(ref.strip()):
                problem = _url_problem(ref.strip(), reader, check_hosts)
            else:
                problem = _file_problem(ref, kind, base, location, reader)
            if problem is not None:
                problems.append(ConfigError(problem, file=config.file, line=line, field=field_name))
    return problems


def _url_problem(url: str, reader: ArtifactReader, check_hosts: bool) -> str | None:
    policy = reader.policy
    if not check_hosts:
        host = (urlsplit(url).hostname or "").lower()
        policy = replace(policy, allowed_hosts=policy.allowed_hosts | {host})
    try:
        check_url(url, policy)
    except PipelineError as exc:
        return str(exc)
    return None


def _file_problem(
    ref: str, kind: str | None, base: str, location: EntityLocation, reader: ArtifactReader
) -> str | None:
    try:
        source = reader.resolve(ref, base_dir=base, location=location)
        content = reader.read(source)
    except PipelineError as exc:
        return str(exc)
    if kind is None:
        try:
            read_main(content)
        except ConfigError as exc:
            return f"{source.location}: {exc}"
        return None
    claimed = CLAIMED_KINDS.get(kind.strip().lower())
    if claimed is None:
        return None
    try:
        doc = parse_document(content)
    except ConfigError:
        doc = None
    parsed = read_secondary(content)
    purpose = "examples" if claimed == "APIExamples" else "metadata"
    if parsed is not None and parsed.kind.purpose == purpose:
        return None  # Postman collections and HAR archives carry examples too
    found = doc.data.get("kind") if doc is not None else None
    found = found if found in CLAIMED_KINDS.values() else None
    if found is None:
        other = doc.data.get("kind") if doc is not None else None
        found = f"kind {other!r}" if isinstance(other, str) else "a document without that kind"
    return f"{source.location}: kind '{kind}' expects an {claimed} document, found {found}"
