"""reconcile_entity refuses contradictory or foreign input before any Microcks call."""

from __future__ import annotations

import pytest
from microcks_fixtures import ENTITY_REF, desired_mock

from microcks_pipeline.microcks import MicrocksClient
from microcks_pipeline.sync.reconcile import reconcile_entity

# Nothing listens on port 1: a call would fail loudly with MicrocksUnreachable, not ValueError.
UNREACHABLE = "http://127.0.0.1:1"


def test_a_mock_of_another_entity_is_refused_before_any_call() -> None:
    client = MicrocksClient(UNREACHABLE)
    foreign = desired_mock(entity_ref="api:default/other", name="other")

    with pytest.raises(ValueError, match="belongs to api:default/other"):
        reconcile_entity(client, ENTITY_REF, "petstore", upsert=[foreign])

    assert client.calls == 0


def test_a_mock_whose_version_is_not_ours_is_refused_before_any_call() -> None:
    client = MicrocksClient(UNREACHABLE)
    mock = desired_mock()
    forged = type(mock)(**{**mock.__dict__, "version": "1.0.0"})

    with pytest.raises(ValueError, match="not ours"):
        reconcile_entity(client, ENTITY_REF, "petstore", upsert=[forged])

    assert client.calls == 0


def test_a_mock_listed_twice_is_refused_before_any_call() -> None:
    client = MicrocksClient(UNREACHABLE)

    with pytest.raises(ValueError, match="twice"):
        reconcile_entity(client, ENTITY_REF, "petstore", upsert=[desired_mock(), desired_mock()])

    assert client.calls == 0


def test_a_mock_both_upserted_and_deleted_is_refused_before_any_call() -> None:
    client = MicrocksClient(UNREACHABLE)

    with pytest.raises(ValueError, match="both upserted and deleted"):
        reconcile_entity(
            client, ENTITY_REF, "petstore", upsert=[desired_mock()], delete=["default"]
        )

    assert client.calls == 0
