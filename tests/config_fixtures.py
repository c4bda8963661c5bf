"""Bad and good microcks.yaml documents shared by the parser, schema and CLI tests.

A bad case marks the line its error must point at with `# <-`; the expected line is read from
the text, so each case shows where the author would look.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from microcks_pipeline.core.config import ConfigProblems, parse_config
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.core.yamlio import MAX_YAML_BYTES

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CATALOG = REPO / "examples" / "catalog"
MARK = "# <-"

VALID = """\
apiVersion: bcgov.dev/v1alpha1
kind: MicrocksSync
spec:
  mocks:
    - mockId: default
      artifacts:
        - kind: examples
          path: ./examples.yaml
"""

# The APIExamples document VALID's artifact names, for checks that read referenced files.
EXAMPLES = """\
apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {name: orders, version: "1"}
operations: {}
"""


@dataclass(frozen=True)
class BadCase:
    name: str
    text: str
    field: str | None  # the field the error names (None: the whole file or document)
    says: str  # a phrase the message must contain
    schema_sees: bool = True  # False: a rule JSON Schema cannot express (the parser enforces it)

    @property
    def whole_file(self) -> bool:
        """True when the problem lies outside every mock entry: the whole file fails."""
        return self.field is None or not self.field.startswith("spec.mocks[")

    @property
    def line(self) -> int | None:
        for number, line in enumerate(self.text.splitlines(), start=1):
            if MARK in line:
                return number
        return None


def _mock(body: str) -> str:
    """A document whose only mock entry is `body` (indented under `spec.mocks`)."""
    return "spec:\n  mocks:\n" + body


def _artifact_path(path: str) -> str:
    return _mock(
        "    - mockId: default\n"
        "      artifacts:\n"
        "        - kind: examples\n"
        f"          path: {path}   {MARK}\n"
    )


_BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['x'] * 10)}]   {MARK}"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
)

BAD_CASES: tuple[BadCase, ...] = (
    BadCase(
        "malformed yaml", f"spec:\n  mocks: x\n   bad: y   {MARK}\n", None, "malformed YAML", False
    ),
    BadCase("alias bomb", _BOMB + "\n", None, "alias bomb", False),
    BadCase(
        "over the size limit",
        "spec:\n  mocks:\n    - mockId: a\n" + "#" * MAX_YAML_BYTES + "\n",
        None,
        "byte limit",
        False,
    ),
    BadCase("empty file", "", None, "empty microcks.yaml"),
    BadCase("only comments", "# nothing here yet\n", None, "empty microcks.yaml"),
    BadCase("document is a list", f"- mockId: default   {MARK}\n", None, "must be a mapping"),
    BadCase(
        "several documents",
        VALID + f"---\nspec: {{}}   {MARK}\n",
        None,
        "exactly one",
        False,
    ),
    BadCase("missing spec", f"kind: MicrocksSync   {MARK}\n", "spec", "required field is missing"),
    BadCase(
        "missing spec.mocks",
        f"spec:   {MARK}\n  other: 1\n",
        "spec.mocks",
        "required field is missing",
    ),
    BadCase(
        "empty spec.mocks",
        f"spec:\n  mocks: []   {MARK}\n",
        "spec.mocks",
        "non-empty list",
    ),
    BadCase("null spec.mocks", f"spec:\n  mocks:   {MARK}\n", "spec.mocks", "non-empty list"),
    BadCase(
        "wrong apiVersion",
        f"apiVersion: bcgov.dev/v1   {MARK}\n" + VALID.split("\n", 1)[1],
        "apiVersion",
        "bcgov.dev/v1alpha1",
    ),
    BadCase(
        "wrong kind",
        f"kind: MicrocksConfig   {MARK}\n" + VALID.split("\n", 2)[2],
        "kind",
        "MicrocksSync",
    ),
    BadCase(
        "duplicate mockId",
        _mock(f"    - mockId: default\n    - mockId: other\n    - mockId: default   {MARK}\n"),
        "spec.mocks[2].mockId",
        "duplicate mockId 'default' (first at line 3)",
        False,
    ),
    BadCase(
        "mockId with a slash",
        _mock(f"    - mockId: team/default   {MARK}\n"),
        "spec.mocks[0].mockId",
        "must match ^[A-Za-z0-9]",
    ),
    BadCase(
        "mockId with spaces",
        _mock(f"    - mockId: my mock   {MARK}\n"),
        "spec.mocks[0].mockId",
        "must match ^[A-Za-z0-9]",
    ),
    BadCase(
        "mockId of 100 characters",
        _mock(f"    - mockId: {'m' * 100}   {MARK}\n"),
        "spec.mocks[0].mockId",
        "at most 63 characters",
    ),
    BadCase(
        "mockId ending in a newline",
        _mock(f'    - mockId: "default\\n"   {MARK}\n'),
        "spec.mocks[0].mockId",
        "must match",
    ),
    BadCase(
        "mockId that is a number",
        _mock(f"    - mockId: 42   {MARK}\n"),
        "spec.mocks[0].mockId",
        "must be a string",
    ),
    BadCase(
        "missing mockId",
        _mock(f"    - includeInSwagger: true   {MARK}\n"),
        "spec.mocks[0].mockId",
        "required field is missing",
    ),
    BadCase(
        "mock that is not a mapping",
        _mock(f"    - default   {MARK}\n"),
        "spec.mocks[0]",
        "must be a mapping",
    ),
    BadCase(
        "includeInSwagger as a string",
        _mock(f'    - mockId: default\n      includeInSwagger: "false"   {MARK}\n'),
        "spec.mocks[0].includeInSwagger",
        "must be true or false",
    ),
    BadCase(
        "includeInSwagger as a number",
        _mock(f"    - mockId: default\n      includeInSwagger: 0   {MARK}\n"),
        "spec.mocks[0].includeInSwagger",
        "must be true or false",
    ),
    BadCase(
        "artifact without kind",
        _mock(
            f"    - mockId: default\n      artifacts:\n        - path: ./examples.yaml   {MARK}\n"
        ),
        "spec.mocks[0].artifacts[0].kind",
        "required field is missing",
    ),
    BadCase(
        "artifact without path",
        _mock(f"    - mockId: default\n      artifacts:\n        - kind: examples   {MARK}\n"),
        "spec.mocks[0].artifacts[0].path",
        "required field is missing",
    ),
    BadCase(
        "artifact with an empty kind",
        _mock(
            "    - mockId: default\n      artifacts:\n"
            f"        - kind: ''   {MARK}\n          path: ./examples.yaml\n"
        ),
        "spec.mocks[0].artifacts[0].kind",
        "non-empty string",
    ),
    BadCase(
        "artifacts not a list",
        _mock(f"    - mockId: default\n      artifacts: ./examples.yaml   {MARK}\n"),
        "spec.mocks[0].artifacts",
        "must be a list",
    ),
    BadCase(
        "openapi without path",
        _mock(f"    - mockId: default\n      openapi:   {MARK}\n        file: ./openapi.yaml\n"),
        "spec.mocks[0].openapi.path",
        "required field is missing",
    ),
    BadCase(
        "openapi as a string",
        _mock(f"    - mockId: default\n      openapi: ./openapi.yaml   {MARK}\n"),
        "spec.mocks[0].openapi",
        "must be a mapping",
    ),
    BadCase(
        "absolute artifact path",
        _artifact_path("/etc/passwd"),
        "spec.mocks[0].artifacts[0].path",
        "absolute paths are not allowed",
    ),
    BadCase(
        "windows drive path",
        _artifact_path("'C:\\repo\\examples.yaml'"),
        "spec.mocks[0].artifacts[0].path",
        "absolute paths are not allowed",
    ),
    BadCase(
        "windows UNC path",
        _artifact_path("'\\\\server\\share\\examples.yaml'"),
        "spec.mocks[0].artifacts[0].path",
        "absolute paths are not allowed",
    ),
    BadCase(
        "file URL",
        _artifact_path("file:///etc/passwd"),
        "spec.mocks[0].artifacts[0].path",
        "file: URLs are not allowed",
    ),
    BadCase(
        "unsupported URL scheme",
        _artifact_path("ftp://files.example.com/examples.yaml"),
        "spec.mocks[0].artifacts[0].path",
        "unsupported URL scheme",
    ),
    BadCase(
        "credentials inside a URL",
        _artifact_path("https://robot:hunter2secret@git.example.com/examples.yaml"),
        "spec.mocks[0].artifacts[0].path",
        "credentials in URLs are not allowed",
    ),
    BadCase(
        "URL without a host",
        _artifact_path("https:///examples.yaml"),
        "spec.mocks[0].artifacts[0].path",
        "malformed URL",
    ),
    BadCase(
        "duplicate key",
        _mock(f"    - mockId: default\n      mockId: other   {MARK}\n"),
        "spec.mocks[0].mockId",
        "duplicate key (first at line 3)",
        False,
    ),
)


def problems_of(text: str | bytes, file: str = "microcks.yaml") -> tuple[list[ConfigError], bool]:
    """Every problem parse_config finds in `text`, and whether they fail the whole file."""
    try:
        config = parse_config(text, file)
    except ConfigProblems as exc:
        return exc.problems, True
    return list(config.problems), False


# Path strings and whether microcks.yaml may name them (the reader re-checks at read time).
PATHS: tuple[tuple[str, bool], ...] = (
    ("./examples.yaml", True),
    ("examples.yaml", True),
    ("mocks/default/examples.yaml", True),
    ("./a..b/x.yaml", True),
    ("..hidden/x.yaml", True),
    ("https://raw.example.com/org/repo/main/examples.yaml", True),
    ("HTTP://example.com", True),
    ("https://example.com:8443/x.yaml?ref=main#top", True),
    ("", False),
    ("   ", False),
    ("/etc/passwd", False),
    ("\\\\server\\share\\x.yaml", False),
    ("C:\\x.yaml", False),
    ("c:x.yaml", False),
    ("file:///etc/passwd", False),
    ("FILE:/etc/passwd", False),
    # `..` is resolved by the artifact reader, then checked to stay inside the repository.
    ("..", True),
    ("../x.yaml", True),
    ("a/../x.yaml", True),
    ("a/..", True),
    ("a\\..\\x.yaml", True),
    ("https://example.com/a/../b.yaml", True),
    ("ftp://example.com/x.yaml", False),
    ("s3://bucket/x.yaml", False),
    ("data:text/plain,hello", False),
    ("https://user:pass@example.com/x.yaml", False),
    ("https://token@example.com/x.yaml", False),
    ("https:///x.yaml", False),
    ("https:example.com/x.yaml", False),
    ("http://exa mple.com/x.yaml", False),
    ("x.yaml\n", False),
    ("x\x00.yaml", False),
)
