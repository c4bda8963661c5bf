"""Where an entity's microcks.yaml lives: the `bcgov/microcks-config-ref` annotation, resolved."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from microcks_pipeline.core.errors import ArtifactPolicyError, ConfigError
from microcks_pipeline.core.identity import ANNOTATION
from microcks_pipeline.core.model import Entity
from microcks_pipeline.sources.artifacts import ArtifactReader, Source

CONFIG_FILE_NAME = "microcks.yaml"
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _invalid(why: str, entity: Entity) -> ConfigError:
    return ConfigError(f"invalid annotation {ANNOTATION}: {why}", entity_ref=entity.ref)


def config_ref(value: str | None, entity: Entity) -> str:
    """The annotation as a reference to the microcks.yaml file: an absolute http(s) URL or a
    path relative to the entity's folder. Raises ConfigError for every other form."""
    if value is None:
        raise _invalid("missing", entity)
    value = value.strip()
    if not value:
        raise _invalid("empty value", entity)
    if value.startswith("dir:"):
        folder = value[len("dir:") :].strip()
        if not folder:
            raise _invalid("'dir:' needs a relative directory", entity)
        if folder.startswith("/") or _PREFIX.match(folder):
            raise _invalid(f"'dir:' needs a relative directory, got {folder!r}", entity)
        return folder.rstrip("/") + "/" + CONFIG_FILE_NAME
    if value.startswith("url:"):
        url = value[len("url:") :].strip()
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise _invalid("'url:' needs an absolute http(s) directory URL", entity)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return urlunsplit((parts.scheme, parts.netloc, path + CONFIG_FILE_NAME, parts.query, ""))
    if value.startswith("/") or value.startswith("~"):
        raise _invalid(f"absolute paths are not allowed, got {value!r}", entity)
    if _PREFIX.match(value):
        raise _invalid(
            f"unknown form {value.split(':', 1)[0] + ':'!r}; use dir:, url: or a relative path",
            entity,
        )
    last = value.rstrip("/").rsplit("/", 1)[-1]
    if not value.endswith("/") and last.lower().endswith((".yaml", ".yml")):
        return value
    return value.rstrip("/") + "/" + CONFIG_FILE_NAME


def locate_config(entity: Entity, reader: ArtifactReader) -> Source:
    """The Source of the entity's microcks.yaml; refusals are reported as annotation errors."""
    ref = config_ref(entity.config_ref, entity)
    try:
        return reader.resolve(ref, base_dir=entity.location.base_dir, location=entity.location)
    except ArtifactPolicyError as exc:
        raise _invalid(str(exc), entity) from None
