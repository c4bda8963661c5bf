"""Helpers for the local Microcks server tests: an in-process client, Microcks' schemas, sample artifacts."""

from __future__ import annotations

import asyncio
import copy
import functools
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml
from starlette.applications import Starlette

from microcks_pipeline.localserver import ServerConfig, create_app

# Verbatim copy of api/microcks-openapi-v1.15.yaml from github.com/microcks/microcks
# (commit 18ab3372c3ec06b0790b455a7a431a73486c5102, Apache 2.0): Microcks' own API description.
SPEC_PATH = Path(__file__).with_name("localserver_microcks_openapi_v1.15.yaml")
SECRET = "test-secret-not-for-production"
UPLOAD = "/api/artifact/upload"


@functools.cache
def _components() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())["components"]


def schema_errors(body: Any, schema_name: str, *, array: bool = False) -> list[str]:
    """Violations of `#/components/schemas/<schema_name>` (or an array of it) in Microcks' spec."""
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    schema = {"components": _components(), **({"type": "array", "items": ref} if array else ref)}
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)
    ]


def assert_schema(body: Any, schema_name: str, *, array: bool = False) -> None:
    errors = schema_errors(body, schema_name, array=array)
    assert not errors, errors


class InProcessClient:
    """Synchronous httpx client over the ASGI app (no socket), one event loop per call."""

    def __init__(self, app: Starlette, base_url: str = "http://testserver") -> None:
        self.app = app
        self.base_url = base_url
        self.token: str | None = None

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, **kwargs)

        if self.token is not None:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("Authorization", f"Bearer {self.token}")
            kwargs["headers"] = headers
        return asyncio.run(call())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def upload(
        self, content: str | bytes, filename: str, *, main: bool | None = None
    ) -> httpx.Response:
        data = content.encode() if isinstance(content, str) else content
        params = {} if main is None else {"mainArtifact": "true" if main else "false"}
        return self.post(UPLOAD, files={"file": (filename, data)}, params=params)


def open_client(**config: Any) -> InProcessClient:
    """A fresh server (auth off unless asked) and a client for it."""
    config.setdefault("auth_enabled", False)
    return InProcessClient(create_app(ServerConfig(**config)))


def fetch_token(
    client: InProcessClient, client_id: str = "microcks-serviceaccount", secret: str = SECRET
) -> str:
    answer = client.post(
        "/auth/realms/microcks/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


# --- sample artifacts ------------------------------------------------------------------------

PASTRY_NAME = "API Pastry"
PASTRY_VERSION = "2.0.0"


def pastry_openapi(
    *, version: str = PASTRY_VERSION, eclair_price: float = 2.5, extra_operation: bool = False
) -> str:
    """Microcks' API Pastry sample, trimmed: list with a query param, get by name, a plain route."""
    extra = (
        """
  /pastry/{name}/reviews:
    get:
      parameters:
        - name: name
          in: path
          required: true
          schema: {type: string}
      responses:
        '200':
          description: reviews
"""
        if extra_operation
        else ""
    )
    return f"""openapi: 3.0.2
info:
  title: {PASTRY_NAME}
  version: {version}
  x-microcks:
    labels:
      domain: pastry
paths:
  /pastry:
    get:
      parameters:
        - name: size
          in: query
          schema: {{type: string}}
          examples:
            small: {{value: S}}
            large: {{value: L}}
      responses:
        '200':
          description: pastries of a size
          content:
            application/json:
              examples:
                small:
                  value: [{{"name": "Tartelette Fraise", "size": "S"}}]
                large:
                  value: [{{"name": "Eclair Chocolat", "size": "L"}}]
  /pastry/{{name}}:
    get:
      parameters:
        - name: name
          in: path
          required: true
          schema: {{type: string}}
          examples:
            Eclair Chocolat: {{value: Eclair Chocolat}}
            Millefeuille: {{value: Millefeuille}}
            Unknown: {{value: Unknown}}
      responses:
        '200':
          description: one pastry
          content:
            application/json:
              examples:
                Eclair Chocolat:
                  value: {{"name": "Eclair Chocolat", "price": {eclair_price}}}
                Millefeuille:
                  value: {{"name": "Millefeuille", "price": 4.4}}
        '404':
          description: unknown pastry
          content:
            text/plain:
              examples:
                Unknown:
                  value: Pastry not found
                Gone:
                  value: Pastry no longer sold
  /health:
    get:
      responses:
        '200':
          description: up
          content:
            text/plain:
              examples:
                up: {{value: UP}}
{extra}"""


def pastry_examples(
    *, example: str = "Croissant", price: float = 1.2, version: str = PASTRY_VERSION
) -> str:
    return f"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata:
  name: {PASTRY_NAME}
  version: {version}
operations:
  'GET /pastry/{{name}}':
    {example}:
      request:
        parameters:
          name: {example}
      response:
        mediaType: application/json
        body:
          name: {example}
          price: {price}
"""


def pastry_metadata(*, version: str = PASTRY_VERSION, labels: str = "domain: bakery") -> str:
    """APIMetadata switching `GET /pastry/{name}` to a FALLBACK dispatcher with a delay."""
    return f"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIMetadata
metadata:
  name: {PASTRY_NAME}
  version: {version}
  labels:
    {labels}
operations:
  'GET /pastry/{{name}}':
    delay: 5
    dispatcher: FALLBACK
    dispatcherRules: |-
      {{"dispatcher": "URI_PARTS", "dispatcherRules": "name", "fallback": "Unknown"}}
"""


def swagger_doc(name: str = "Legacy API", version: str = "1.1") -> str:
    return f"""swagger: "2.0"
info:
  title: {name}
  version: "{version}"
paths:
  /items/{{id}}:
    get:
      parameters:
        - name: id
          in: path
          required: true
          type: string
      responses:
        200:
          description: an item
  /items:
    get:
      parameters:
        - name: q
          in: query
          type: string
      responses:
        200:
          description: items
"""


# --- Microcks' own sample artifacts (tests/samples, see its README) ---------------------------

SAMPLES = Path(__file__).with_name("samples")


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def relaxed_schema_errors(body: Any, schema_name: str) -> list[str]:
    """schema_errors, minus two `required` lists Microcks' own Java does not honour.

    Microcks writes gRPC/GraphQL/SOAP operations without `method` where its importers set none
    (ProtobufImporter), and AsyncAPI bindings without `destinationName` (AsyncAPICommons only
    sets it for some protocols); its spec marks both required. The Java wins (NOTES.md).
    """
    components = copy.deepcopy(_components())
    schemas = components["schemas"]
    schemas["Operation"]["required"] = ["name"]
    schemas["Binding"]["required"] = ["type"]
    schema = {"components": components, "$ref": f"#/components/schemas/{schema_name}"}
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)
    ]
