"""The one exception tree of microcks-pipeline; callers branch on the class, never on messages.

    PipelineError
    ├── PermanentError          retrying the same input cannot help (bad config, 400, unstampable)
    │   ├── ConfigError         microcks.yaml / annotation / catalog entity is invalid
    │   └── ArtifactPolicyError path escapes the repository, URL host not allowed, too large
    ├── TransientError          may succeed later (connect, timeout, 5xx, 429, read errors)
    │   └── CatalogUnavailable  a catalog listing could not be completed
    └── AuthError               Microcks rejected our credentials (401/403) after one refresh

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


class ArtifactPolicyError(PermanentError):
    """A path or URL that the security policy refuses (escape, host, address, size)."""


class TransientError(PipelineError):
    """Worth retrying later with backoff; the live mock is kept."""

    def __init__(
        self, message: str, *, entity_ref: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, entity_ref=entity_ref)
        self.retry_after = retry_after


class CatalogUnavailable(TransientError):
    """The catalog listing failed or was incomplete: nothing may be deleted on this tick."""


class AuthError(PipelineError):
    """Microcks refused our token (after one refresh); a Microcks-wide condition."""
