"""A two-mock entity repository on disk (`pet`) next to an unrelated one (`store`), shared by
the desired-state tests."""

from __future__ import annotations

from pathlib import Path

from artifacts_fixtures import EXAMPLES_YAML, METADATA_YAML, OPENAPI_YAML, file_entity, write

from microcks_pipeline.core.desired import EntityDesired
from microcks_pipeline.sources.artifacts import ArtifactReader
from microcks_pipeline.sources.catalog.entity import Entity
from microcks_pipeline.sync.loader import load_entity_desired

MICROCKS_YAML = """apiVersion: bcgov.dev/v1alpha1
kind: MicrocksSync
spec:
  mocks:
    - mockId: default
      artifacts:
        - kind: examples
          path: ./mocks/default/examples.yaml
        - kind: metadata
          path: ./mocks/default/metadata.yaml
    - mockId: alt
      includeInSwagger: false
      openapi:
        path: ./mocks/alt/openapi.json
      artifacts:
        - kind: examples
          path: ./mocks/alt/examples.yaml
"""

ALT_OPENAPI_JSON = '{"openapi": "3.0.1", "info": {"title": "Alt", "version": "1"}, "paths": {}}'


def pet_repo(root: Path, **overrides: str | bytes) -> Path:
    files: dict[str, str | bytes] = {
        "apis/pet/microcks.yaml": MICROCKS_YAML,
        "apis/pet/openapi.yaml": OPENAPI_YAML,
        "apis/pet/mocks/default/examples.yaml": EXAMPLES_YAML,
        "apis/pet/mocks/default/metadata.yaml": METADATA_YAML,
        "apis/pet/mocks/alt/openapi.json": ALT_OPENAPI_JSON,
        "apis/pet/mocks/alt/examples.yaml": EXAMPLES_YAML,
        "apis/store/microcks.yaml": "spec:\n  mocks:\n    - mockId: default\n",
        "apis/store/openapi.yaml": OPENAPI_YAML,
    }
    files.update(overrides)
    return write(root, files)


def pet(repo: Path, **kwargs: object) -> Entity:
    kwargs.setdefault("definition", {"$text": "./openapi.yaml"})
    return file_entity(repo, "apis/pet", name="PetStore", **kwargs)  # type: ignore[arg-type]


def store(repo: Path) -> Entity:
    return file_entity(repo, "apis/store", name="store", definition={"$text": "./openapi.yaml"})


def load(entity: Entity, reader: ArtifactReader | None = None) -> EntityDesired:
    return load_entity_desired(entity, reader or ArtifactReader())
