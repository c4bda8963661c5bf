"""Dispatch criteria helpers against the cases of Microcks' own DispatchCriteriaHelperTest and URIBuilderTest."""

from __future__ import annotations

import pytest

from microcks_pipeline.localserver import dispatch as d


@pytest.mark.parametrize(
    "pattern",
    [
        "/deployment/byComponent/{component}/{version}?{{param}}",
        "/deployment/byComponent/:component/:version?{{param}}",
        "/deployment/byComponent/{component}/{version}/$count",
    ],
)
def test_parts_rule_of_a_uri_pattern(pattern):
    assert d.extract_parts_from_uri_pattern(pattern) == "component && version"


def test_pattern_without_parts_has_an_empty_rule():
    assert d.extract_parts_from_uri_pattern("/pastry") == ""


@pytest.mark.parametrize(
    ("request_path", "pattern"),
    [
        ("/deployment/byComponent/myComp/1.2", "/deployment/byComponent/{component}/{version}"),
        ("/deployment/byComponent/myComp/1.2", "/deployment/byComponent/:component/:version"),
        (
            "/deployment/byComponent/myComp/1.2/$count",
            "/deployment/byComponent/:component/:version/$count",
        ),
        (
            "/deployment/byComponent/myComp/1.2.json",
            "/deployment/byComponent/{component}/{version}.json",
        ),
    ],
)
def test_uri_parts_criteria_are_sorted_by_part_name(request_path, pattern):
    assert d.extract_from_uri_pattern("component && version", pattern, request_path) == (
        "/component=myComp/version=1.2"
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("component", "/component=myComp"),
        ("version", "/version=1.2"),
        ("component && version", "/component=myComp/version=1.2"),
        ("component ?? apiKey", "/component=myComp"),
    ],
)
def test_uri_parts_criteria_keep_only_parts_named_by_the_rule(rule, expected):
    pattern = "/deployment/byComponent/{component}/{version}"

    assert (
        d.extract_from_uri_pattern(rule, pattern, "/deployment/byComponent/myComp/1.2") == expected
    )


def test_unsorted_parts_are_sorted_in_the_criteria():
    criteria = d.extract_from_uri_pattern(
        "first && seconda",
        "/deployment/byComponent/{seconda}/{first}",
        "/deployment/byComponent/1.2/myComp",
    )

    assert criteria == "/first=myComp/seconda=1.2"


def test_uri_params_criteria_are_sorted_and_filtered_by_rule():
    uri = "/v2/pet/findByDate/2017/01/04?user_key=998bac0775b1d5f588e0a6ca7c11b852&status=available"

    assert (
        d.extract_from_uri_params("user_key", uri) == "?user_key=998bac0775b1d5f588e0a6ca7c11b852"
    )
    assert d.extract_from_uri_params("user_key && status", uri) == (
        "?status=available?user_key=998bac0775b1d5f588e0a6ca7c11b852"
    )


def test_uri_params_without_value_are_ignored():
    assert d.extract_from_uri_params("param1 && param2", "/search?param1=test&param2=&param3=") == (
        "?param1=test"
    )


def test_uri_params_values_are_url_decoded():
    assert (
        d.extract_from_uri_params("q", "/search?q=eclair+au%20chocolat") == "?q=eclair au chocolat"
    )


def test_build_from_parts_map_respects_hyphenated_names():
    parts = [("year", "2018"), ("month", "05"), ("year-summary", "true"), ("half-year", "true")]

    assert d.build_from_parts_map("month && year", parts) == "/month=05/year=2018"
    assert d.build_from_parts_map("year", parts) == "/year=2018"
    assert d.build_from_parts_map("month && year-summary", parts) == "/month=05/year-summary=true"


def test_build_from_params_map_respects_longer_names():
    params = [("page", "1"), ("limit", "20"), ("limitation", "20"), ("status", "available")]

    assert d.build_from_params_map("page", params) == "?page=1"
    assert d.build_from_params_map("page && limit", params) == "?limit=20?page=1"
    assert d.build_from_params_map("page && limitation", params) == "?limitation=20?page=1"


def test_uri_elements_rules_split_parts_and_params_at_double_question_mark():
    assert d.build_from_parts_map("id ?? view", [("id", "7")]) == "/id=7"
    assert d.build_from_params_map("id ?? view", [("view", "full")]) == "?view=full"


def test_build_uri_from_pattern_fills_parts_and_appends_query_params():
    uri = d.build_uri_from_pattern(
        "/pastry/{name}/:kind", [("name", "Eclair Chocolat"), ("kind", "cake"), ("size", "L M")]
    )

    assert uri == "/pastry/Eclair%20Chocolat/cake?size=L+M"


def test_fallback_rules_hand_over_their_wrapped_dispatcher():
    rules = '{"dispatcher": "URI_PARTS", "dispatcherRules": "name", "fallback": "Unknown"}'

    assert d.root_dispatcher(d.FALLBACK, rules) == ("URI_PARTS", "name")
    assert d.parse_fallback(rules).fallback == "Unknown"


@pytest.mark.parametrize(
    "rules", ["not json", "[]", '{"dispatcher": "URI_PARTS", "extra": 1}', None]
)
def test_malformed_fallback_rules_are_ignored_like_jackson_failures(rules):
    assert d.parse_fallback(rules) is None
    assert d.root_dispatcher(d.FALLBACK, rules) == (d.FALLBACK, rules)
