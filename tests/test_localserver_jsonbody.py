"""JSON_BODY dispatch on the local Microcks server, as JsonExpressionEvaluator evaluates it: the
request body picks the example by equals, range, regexp, size or presence cases."""

from __future__ import annotations

import json

import pytest
from localserver_fixtures import open_client

ORDERS = """openapi: 3.0.2
info: {title: Orders, version: '1'}
paths:
  /orders:
    post:
      x-microcks-operation:
        dispatcher: JSON_BODY
        dispatcherRules: '{"exp": "/amount", "operator": "range", "cases": {"[0;100[": "small", "[100;1000]": "big", "default": "unknown"}}'
      requestBody:
        content:
          application/json:
            examples:
              small: {value: {amount: 10}}
              big: {value: {amount: 500}}
              unknown: {value: {amount: -1}}
      responses:
        '200':
          description: an order
          content:
            application/json:
              examples:
                small: {value: {size: small}}
                big: {value: {size: big}}
                unknown: {value: {size: unknown}}
"""


def orders_client(rules: dict | None = None):
    client = open_client()
    assert client.upload(ORDERS, "orders.yaml").status_code == 201
    if rules is not None:
        answer = client.request(
            "PUT",
            "/api/services/Orders:1/operation",
            params={"operationName": "POST /orders"},
            json={"dispatcher": "JSON_BODY", "dispatcherRules": json.dumps(rules)},
        )
        assert answer.status_code == 200
    return client


def _size(client, body: object) -> tuple[int, str]:
    answer = client.post("/rest/Orders/1/orders", content=json.dumps(body))
    return answer.status_code, answer.json()["size"] if answer.status_code == 200 else answer.text


@pytest.mark.parametrize(
    ("body", "size"),
    [({"amount": 99.5}, "small"), ({"amount": 100}, "big"), ({"amount": "lots"}, "unknown")],
)
def test_range_cases(body, size):
    assert _size(orders_client(), body) == (200, size)


@pytest.mark.parametrize(
    ("rules", "body", "size"),
    [
        (
            {"exp": "/kind", "operator": "equals", "cases": {"S": "small", "default": "big"}},
            {"kind": "S"},
            "small",
        ),
        (
            {"exp": "/kind", "operator": "equals", "cases": {"S": "small", "default": "big"}},
            {"kind": "XL"},
            "big",
        ),
        (
            {"exp": "/code", "operator": "regexp", "cases": {"^B.*": "big", "default": "small"}},
            {"code": "BX-1"},
            "big",
        ),
        (
            {"exp": "/items", "operator": "size", "cases": {"[0;2]": "small", "default": "big"}},
            {"items": [1, 2, 3]},
            "big",
        ),
        (
            {
                "exp": "/coupon",
                "operator": "presence",
                "cases": {"found": "small", "missing": "big"},
            },
            {"coupon": None},
            "small",
        ),
        (
            {
                "exp": "/coupon",
                "operator": "presence",
                "cases": {"found": "small", "missing": "big"},
            },
            {},
            "big",
        ),
    ],
)
def test_other_operators(rules, body, size):
    assert _size(orders_client(rules), body) == (200, size)


def test_a_body_that_is_not_json_gives_no_criteria_so_the_first_example_without_criteria():
    # Microcks logs the failure and looks responses up by a null criteria, which Mongo matches
    # with every example stored without one (the OpenAPI ones): the first is served.
    client = orders_client()

    answer = client.post("/rest/Orders/1/orders", content="not json")

    assert (answer.status_code, answer.json()) == (200, {"size": "small"})
