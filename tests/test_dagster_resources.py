"""Resources: environment defaults chosen in one place, secrets as EnvVar, clear refusals."""

from __future__ import annotations

import dagster as dg
import pytest

from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.resources import (
    CatalogResource,
    MicrocksResource,
    StatusStoreResource,
    resources_from_env,
)

SECRET = "s3cr3t-value-never-shown"


def test_without_any_environment_the_sample_catalog_is_read_and_microcks_is_unconfigured() -> None:
    res = resources_from_env({})

    assert res["catalog"].root == s.DEFAULT_CATALOG_ROOT
    assert res["catalog"].backstage_url == ""
    assert not res["microcks"].configured
    assert s.MICROCKS_URL in res["microcks"].not_configured_reason
    assert res["status_store"].db_url == ""


def test_set_variables_become_env_vars_resolved_at_run_time() -> None:
    env = {
        s.MICROCKS_URL: "http://127.0.0.1:1",
        s.MICROCKS_CLIENT_ID: "pipeline",
        s.MICROCKS_CLIENT_SECRET: SECRET,
        s.BACKSTAGE_URL: "http://127.0.0.1:2",
        s.BACKSTAGE_TOKEN: SECRET,
        s.DB_URL: "sqlite:///x.db",
    }

    res = resources_from_env(env)

    assert res["microcks"].client_secret == dg.EnvVar(s.MICROCKS_CLIENT_SECRET)
    assert res["catalog"].token == dg.EnvVar(s.BACKSTAGE_TOKEN)
    assert res["status_store"].db_url == dg.EnvVar(s.DB_URL)
    assert res["catalog"].root == ""  # Backstage replaces the sample folder
    assert SECRET not in repr(res)


def test_tuning_values_are_parsed_and_bad_ones_are_refused_with_the_variable_name() -> None:
    env = {
        s.ALLOWED_HOSTS: "raw.example.com, git.example.com",
        s.ALLOW_HTTP: "true",
        s.GITHUB_ENTERPRISE_HOSTS: " GIT.example.com ,",
    }
    catalog = resources_from_env(env)["catalog"]
    assert catalog.allowed_hosts == ["raw.example.com", "git.example.com"]
    assert catalog.allow_http is True
    assert catalog.url_policy().github_enterprise_hosts == frozenset({"git.example.com"})

    for name, value in [
        (s.ALLOW_HTTP, "maybe"),
        (s.HTTP_TIMEOUT, "-1"),
        (s.ARTIFACT_MAX_BYTES, "lots"),
    ]:
        with pytest.raises(ValueError, match=name):
            resources_from_env({name: value})


def test_settings_come_from_the_environment_with_defaults() -> None:
    assert s.Settings.from_env({}) == s.Settings()
    tuned = s.Settings.from_env(
        {s.CATALOG_INTERVAL: "2", s.SYNC_INTERVAL: "2", s.BATCH_THRESHOLD: "0"}
    )
    assert (tuned.catalog_interval, tuned.sync_interval, tuned.batch_threshold) == (2, 2, 0)
    with pytest.raises(ValueError, match=s.SYNC_INTERVAL):
        s.Settings.from_env({s.SYNC_INTERVAL: "0"})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, s.MICROCKS_URL),
        ({"base_url": "ftp://127.0.0.1"}, "http"),
        ({"base_url": "http://user:pw@127.0.0.1"}, "credentials"),
        ({"base_url": "http://127.0.0.1:1", "client_id": "x"}, s.MICROCKS_CLIENT_SECRET),
    ],
)
def test_microcks_says_why_it_is_not_configured(fields: dict, expected: str) -> None:
    microcks = MicrocksResource(**fields)

    assert not microcks.configured
    assert expected in microcks.not_configured_reason
    assert "pw" not in microcks.not_configured_reason
    with pytest.raises(ConfigError, match=expected):
        with microcks.client():
            pass


def test_microcks_with_a_url_is_configured_without_contacting_it() -> None:
    microcks = MicrocksResource(base_url="http://127.0.0.1:9", client_id="c", client_secret=SECRET)

    assert microcks.configured
    with microcks.client() as client:  # building a client sends nothing
        assert SECRET not in repr(client)


def test_a_catalog_needs_exactly_one_source() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        CatalogResource().source()
    with pytest.raises(ConfigError, match="exactly one"):
        CatalogResource(root="x", backstage_url="http://127.0.0.1:9").source()


def test_malformed_host_tokens_are_refused_without_echoing_them() -> None:
    catalog = CatalogResource(root=".", host_tokens=f"{{not json {SECRET}")

    with pytest.raises(ConfigError) as info:
        catalog.url_policy()

    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError, match="host"):
        CatalogResource(root=".", host_tokens='{"h": 1}').url_policy()


def test_host_tokens_reach_the_url_policy_but_not_its_repr() -> None:
    policy = CatalogResource(
        root=".",
        allowed_hosts=["Raw.Example.com"],
        host_tokens=f'{{"raw.example.com": "{SECRET}"}}',
    ).url_policy()

    assert policy.allowed_hosts == frozenset({"raw.example.com"})
    assert policy.host_tokens == {"raw.example.com": SECRET}
    assert SECRET not in repr(policy)


def test_the_status_store_is_migrated_once_and_shared_per_url(tmp_path) -> None:
    resource = StatusStoreResource(db_url=f"sqlite:///{tmp_path / 'status.db'}")

    first = resource.store()
    second = StatusStoreResource(db_url=resource.db_url).store()

    assert first is second
    assert first.rows() == []
    assert first.schema_revision() is not None


def test_a_bad_status_store_url_is_refused_before_connecting() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        StatusStoreResource(db_url="mysql://127.0.0.1:9/x").store()
