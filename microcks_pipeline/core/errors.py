"""The one exception tree of microcks-pipeline; callers branch on the class, never on messages.

    PipelineError
    ├── PermanentError            retrying the same input cannot help
    │   ├── ConfigError           microcks.yaml / annotation / catalog entity is invalid
    │   ├── YamlError             a file is not acceptable YAML (malformed, too big, alias bomb)
    │   ├── ArtifactPolicyError   path escapes the repository, URL host not allowed, too large
    │   ├── MicrocksRejected      Microcks answered 400 to an upload (carries Microcks' text)
    │   ├── MicrocksNoService     Microcks answered 204: it imported no service from the file
    │   └── StoreNotMigrated      the status tables do not exist (run `migrate` first)
    ├── TransientError            may succeed later; `retry_after` (seconds or None) says when
    │   ├── CatalogUnavailable    a catalog listing could not be completed
    │   ├── MicrocksUnreachable   no connection at all: Microcks-wide, stop the whole run
    │   ├── MicrocksBusy          429 (retry_after from Retry-After) or 5xx; `status` says which
    │   ├── MicrocksTimeout       the request was sent but no answer came in time
    │   └── StoreUnavailable      the status database could not be reached, or stayed locked
    └── AuthError                 Microcks refused our credentials (401 after one refresh, 403,
                                  or a refused token request): a Microcks-wide condition

So the retry policy is one `except` away: `except TransientError as exc: ... exc.retry_after`.
The Microcks and store classes are also importable from their old homes
(`microcks_pipeline.microcks.errors`, `microcks_pipeline.store`), which re-export these.

Messages are meant for operators: they name the entity, file, line and field, and never carry
tokens, secrets, stack traces or credentials inside URLs.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, message: str, *, entity_ref: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.entity_ref = entity_ref

    def __str__(self) -> str:
        return self.message


# -- permanent ---------------------------------------------------------------------------------


class PermanentError(PipelineError):
    """The same input will fail the same way; needs a change of input or a manual re-run."""


class ConfigError(PermanentError):
    """Invalid microcks.yaml, annotation or entity. `location` is `file:line` when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        entity_ref: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        where = ""
        if file:
            where = file + (f":{line}" if line else "")
        parts = [p for p in (where, f"field '{field}'" if field else "", message) if p]
        super().__init__(": ".join(parts), entity_ref=entity_ref)


class YamlError(PermanentError):
    """The file is not acceptable YAML; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class ArtifactPolicyError(PermanentError):
    """A path or URL that the security policy refuses (escape, host, address, size)."""


class MicrocksRejected(PermanentError):
    """Microcks refused an artifact (HTTP 400); `text` is Microcks' own explanation, shortened."""

    def __init__(self, message: str, *, text: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.text = text
        self.status = status


class MicrocksNoService(PermanentError):
    """Microcks accepted the upload but imported no service from it (HTTP 204)."""


class StoreNotMigrated(PermanentError):
    """The status tables do not exist: `StatusStore.migrate()` has not run on this database."""


# -- transient ---------------------------------------------------------------------------------


class TransientError(PipelineError):
    """Worth retrying later with backoff; the live mock is kept.

    `retry_after` is the server's own hint in seconds (a Retry-After header), or None.
    """

    retry_after: float | None

    def __init__(
        self, message: str, *, entity_ref: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, entity_ref=entity_ref)
        self.retry_after = retry_after


class CatalogUnavailable(TransientError):
    """The catalog listing failed or was incomplete: nothing may be deleted on this tick."""


class MicrocksUnreachable(TransientError):
    """Microcks (or its token endpoint) could not be reached: every later call would fail too."""


class MicrocksBusy(TransientError):
    """Microcks answered 429 or 5xx; `status` and (for 429) `retry_after` say what and how long."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.status = status


class MicrocksTimeout(TransientError):
    """The request reached Microcks but the answer did not arrive within the timeout."""


class StoreUnavailable(TransientError):
    """The status database could not be reached, or stayed locked: try again later."""


# -- auth --------------------------------------------------------------------------------------


class AuthError(PipelineError):
    """Microcks refused our token (after one refresh); a Microcks-wide condition."""
