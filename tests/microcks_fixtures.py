"""Test helpers for the Microcks client and reconcile tests: already-stamped DesiredMocks.

The content is written pre-stamped (title/name = service name, version = the mock's version),
exactly what the loader hands to reconcile, so these tests do not depend on the stamper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from microcks_pipeline.core.desired import Artifact, ArtifactFacts, DesiredMock
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.kinds import artifact_facts
from microcks_pipeline.localserver import ServerConfig, create_app, running_server
from microcks_pipeline.microcks import MicrocksClient, TokenProvider

ENTITY_REF = "api:default/petstore"
ENTITY_NAME = "petstore"


def openapi_main(name: str, version: str, *, tag: str = "v1") -> str:
    """OpenAPI 3 with `GET /pets/{id}` and two examples, `rex` (id 1) and `tom` (id 2)."""
    return f"""openapi: 3.0.2
info:
  title: {name}
  version: {version}
paths:
  /pets/{{id}}:
    get:
      operationId: getPet
      parameters:
        - name: id
          in: path
          required: true
          schema: {{type: string}}
          examples:
            rex: {{value: "1"}}
            tom: {{value: "2"}}
      responses:
        "200":
          description: a pet
          content:
            application/json:
              schema: {{type: object}}
              examples:
                rex: {{value: {{name: "Rex {tag}"}}}}
                tom: {{value: {{name: "Tom {tag}"}}}}
"""


def api_examples(name: str, version: str, *, pet: str = "Max") -> str:
    """APIExamples adding example `max` (id 9) to `GET /pets/{id}`."""
    return f"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata:
  name: {name}
  version: {version}
operations:
  'GET /pets/{{id}}':
    max:
      request:
        parameters:
          id: "9"
      response:
        status: 200
        mediaType: application/json
        body:
          name: {pet}
"""


def api_metadata(name: str, version: str, *, fallback: str = "tom") -> str:
    """APIMetadata making unknown ids answer the `fallback` example instead of an error."""
    return f"""apiVersion: mocks.microcks.io/v1alpha1
kind: APIMetadata
metadata:
  name: {name}
  version: {version}
  labels:
    team: pets
operations:
  'GET /pets/{{id}}':
    dispatcher: FALLBACK
    dispatcherRules: |-
      {{"dispatcher": "URI_PARTS", "dispatcherRules": "id", "fallback": "{fallback}"}}
"""


def artifact(role: str, kind: str, upload_name: str, text: str) -> Artifact:
    content = text.encode("utf-8")
    return Artifact(
        role=role,  # type: ignore[arg-type]
        kind=kind,
        location=f"./{upload_name}",
        upload_name=upload_name,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        facts=_facts(content, role == "main"),
    )


def _facts(content: bytes, main: bool) -> ArtifactFacts:
    """What the loader would compute; none for a broken file (tests of Microcks refusing it)."""
    try:
        return artifact_facts(content, main=main)
    except ConfigError:
        return ArtifactFacts()


def desired_mock(
    mock_id: str = "default",
    *,
    entity_ref: str = ENTITY_REF,
    name: str = ENTITY_NAME,
    tag: str = "v1",
    examples: bool = False,
    metadata: str | None = None,
    main_text: str | None = None,
) -> DesiredMock:
    """A stamped mock: main OpenAPI, then (optionally) APIExamples, then APIMetadata."""
    version = service_version(entity_ref, mock_id)
    prefix = f"{mock_id}--"
    main = artifact(
        "main",
        "openapi",
        prefix + "openapi.yaml",
        main_text or openapi_main(name, version, tag=tag),
    )
    secondaries = []
    if examples:
        secondaries.append(
            artifact("secondary", "examples", prefix + "examples.yaml", api_examples(name, version))
        )
    if metadata is not None:
        secondaries.append(
            artifact(
                "secondary",
                "metadata",
                prefix + "metadata.yaml",
                api_metadata(name, version, fallback=metadata),
            )
        )
    fingerprint = hashlib.sha256(
        b"".join([main.content, *(a.content for a in secondaries)])
    ).hexdigest()
    return DesiredMock(
        entity_ref=entity_ref,
        mock_id=mock_id,
        service_name=name,
        version=version,
        include_in_swagger=False,
        main=main,
        secondaries=tuple(secondaries),
        fingerprint=fingerprint,
    )


# -- local Microcks-compatible server -----------------------------------------------------------

CLIENT_ID = "microcks-serviceaccount"
SECRET = "test-secret-never-printed-7f3a"
IN_PROCESS_URL = "http://testserver"  # the host Starlette's TestClient answers for


def server_config(
    *, auth: bool = True, roles: tuple[str, ...] = ("user", "manager")
) -> ServerConfig:
    return ServerConfig(
        auth_enabled=auth, clients={CLIENT_ID: (SECRET, list(roles))}, faults_enabled=True
    )


@dataclass
class Microcks:
    """A local server plus a pipeline client pointed at it."""

    app: Starlette  # .state.store, .state.faults, .state.calls
    client: MicrocksClient
    get: Callable[[str], httpx.Response]  # GET an absolute mock URL the way a consumer would
    transport: httpx.BaseTransport | None = None  # in-process only: reaches the same app

    def uploads(self) -> list[str]:
        """The mainArtifact query of every upload the server received, in order."""
        return [c.query for c in self.app.state.calls.calls(path_prefix="/api/artifact/upload")]


def in_process(
    *,
    auth: bool = True,
    roles: tuple[str, ...] = ("user", "manager"),
    secret: str = SECRET,
    mount: str = "",
) -> Microcks:
    """The server as an ASGI app in this process (no socket), optionally under a path prefix."""
    app = create_app(server_config(auth=auth, roles=roles))
    # Under a prefix, Keycloak stays at the host root (the server advertises `<host>/auth`).
    served = Starlette(routes=[Mount(mount, app=app), Mount("", app=app)]) if mount else app
    http = TestClient(served, base_url=IN_PROCESS_URL)
    # TestClient is an httpx.Client; its transport runs the ASGI app synchronously.
    transport = http._transport
    base = IN_PROCESS_URL + mount
    tokens = TokenProvider(base, CLIENT_ID, secret, transport=transport) if auth else None
    client = MicrocksClient(base, token_provider=tokens, transport=transport)
    return Microcks(app, client, http.get, transport)


@contextmanager
def over_http(
    *, auth: bool = True, timeout: float = 10.0, roles: tuple[str, ...] = ("user", "manager")
) -> Iterator[Microcks]:
    """The server on a real 127.0.0.1 socket (uvicorn), with a client using plain httpx."""
    with running_server(server_config(auth=auth, roles=roles)) as server:
        tokens = TokenProvider(server.base_url, CLIENT_ID, SECRET) if auth else None
        client = MicrocksClient(server.base_url, token_provider=tokens, timeout=timeout)
        with httpx.Client(timeout=10.0) as consumer:
            try:
                yield Microcks(server.app, client, consumer.get)
            finally:
                client.close()


def upload_foreign(m: Microcks, name: str, version: str) -> None:
    """A service that is not ours (or is, by its version), uploaded as Microcks would receive it."""
    m.client.upload(f"{name}-{version}.yaml", openapi_main(name, version).encode(), main=True)


def versions_in(m: Microcks) -> set[tuple[str, str]]:
    return {(s.name, s.version) for s in m.app.state.store.services()}
