"""Benchmark: Microcks calls and time to reconcile one changed mock, whatever Microcks holds.

Starts the local Microcks-compatible server on 127.0.0.1 (real HTTP, Keycloak-style tokens),
then for each size (0 and --services unrelated services already in Microcks) runs --rounds
"runs" (a fresh client each, as a Dagster run has), each reconciling one changed mock with two
secondaries (APIExamples + APIMetadata): odd rounds change content, even rounds also rename
the examples file (one tombstone for the old name). It prints the Microcks calls per mock
beside the budget (1 entity search + 1 main + its secondaries + its tombstones + 1 read), the
token-endpoint requests per run beside theirs (at most 1), and the median time with the ratio
against the 0-service baseline measured in the same run; also the time without the local
server's own in-memory store work (what the pipeline itself spends). Target: within budget and
the same call count at every size. Then one changed mock of every other kind (AsyncAPI,
GraphQL + Postman, gRPC + Postman, SoapUI, Postman main), from Microcks' samples, against the
same budget.
Usage: python bench/microcks_calls.py [--services 5000] [--rounds 7]"""

from __future__ import annotations

import argparse
import copy
import hashlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from microcks_pipeline import kinds
from microcks_pipeline.core.desired import Artifact, DesiredMock
from microcks_pipeline.core.identity import service_version
from microcks_pipeline.defs.resources import MicrocksResource
from microcks_pipeline.localserver import ServerConfig, running_server
from microcks_pipeline.store import StatusStore
from microcks_pipeline.sync.reconcile import reconcile_entity

ENTITY_REF = "api:default/orders"
ENTITY_NAME = "orders"
CLIENT_ID = "microcks-serviceaccount"
SECRET = "bench-only-secret"

MAIN = """openapi: 3.0.2
info:
  title: {name}
  version: {version}
paths:
  /orders/{{id}}:
    get:
      parameters:
        - name: id
          in: path
          required: true
          schema: {{type: string}}
          examples:
            first: {{value: "1"}}
      responses:
        "200":
          description: an order
          content:
            application/json:
              examples:
                first: {{value: {{id: "1", round: {round}}}}}
"""
EXAMPLES = """apiVersion: mocks.microcks.io/v1alpha1
kind: APIExamples
metadata: {{name: {name}, version: {version}}}
operations:
  'GET /orders/{{id}}':
    second:
      request: {{parameters: {{id: "2"}}}}
      response: {{status: 200, mediaType: application/json, body: {{id: "2", round: {round}}}}}
"""
METADATA = """apiVersion: mocks.microcks.io/v1alpha1
kind: APIMetadata
metadata: {{name: {name}, version: {version}}}
operations:
  'GET /orders/{{id}}':
    dispatcher: FALLBACK
    dispatcherRules: '{{"dispatcher": "URI_PARTS", "dispatcherRules": "id", "fallback": "first"}}'
"""


def _artifact(role: str, kind: str, name: str, text: str) -> Artifact:
    content = text.encode()
    facts = kinds.artifact_facts(content, main=role == "main")
    digest = hashlib.sha256(content).hexdigest()
    return Artifact(role, kind, f"./{name}", name, content, digest, facts)  # type: ignore[arg-type]


# ---- every kind: one changed mock per round, built as the loader builds it ---------------------

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "samples"
# kind -> (main sample, secondary sample or None, text changed every round)
KINDS = {
    "asyncapi": ("UserSignedUpAPI-asyncapi-ws.yml", None, "Laurent Broudoux"),
    "graphql": ("films.graphql", "films-postman.json", "Irvin Kershner"),
    "grpc": ("hello-v1.proto", "HelloService.postman.json", "Hello John Doe !"),
    "soapui": ("HelloService-to-set-proxy-soapui-project.xml", None, "Hello Andrew !"),
    "postman": ("BeerCatalogAPI-collection.json", None, "Belgium"),
}


def kind_mock(kind: str, round_: int) -> DesiredMock:
    """A mock of `kind` whose example text differs every round, stamped by its kind."""
    main_file, secondary_file, text = KINDS[kind]
    ref, mock_id = f"api:default/bench-{kind}", "default"
    owner = service_version(ref, mock_id)

    def changed(file: str) -> bytes:
        return (SAMPLES / file).read_text().replace(text, f"{text} {round_}").encode()

    parsed = kinds.read_main(changed(main_file))
    name, version = parsed.kind.fixed_identity(parsed) or (f"bench-{kind}", owner)
    stamped = kinds.stamp_main(parsed, name, version)
    main = Artifact(
        "main", "main", main_file, main_file, stamped, _sha(stamped), kinds.facts(parsed)
    )
    secondaries: tuple[Artifact, ...] = ()
    if secondary_file:
        doc = kinds.read_secondary(changed(secondary_file))
        assert doc is not None
        content = kinds.stamp_secondary(doc, name, version) or b""
        secondaries = (
            Artifact(
                "secondary",
                "examples",
                secondary_file,
                secondary_file,
                content,
                _sha(content),
                kinds.facts(doc),
            ),
        )
    fixed = parsed.kind.fixed_identity(parsed) is not None
    return DesiredMock(
        ref,
        mock_id,
        name,
        version,
        False,
        main,
        secondaries,
        f"round-{round_}",
        owner=owner if fixed else None,
    )


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def measure_kinds(rounds: int) -> dict[str, tuple[tuple[int, ...], int]]:
    """kind -> (Microcks calls of each changed round, the OpenAPI budget for that mock)."""
    config = ServerConfig(auth_enabled=False, grpc_port=0)
    found: dict[str, tuple[tuple[int, ...], int]] = {}
    with running_server(config) as server:
        for kind in KINDS:
            applied = None
            calls = []
            for round_ in range(rounds + 1):
                mock = kind_mock(kind, round_)
                resource = MicrocksResource(base_url=server.base_url)
                with resource.client() as client:
                    result = reconcile_entity(
                        client,
                        mock.entity_ref,
                        f"bench-{kind}",
                        upsert=[mock],
                        applied={"default": applied},
                    )
                assert result.failed == (), result.failed
                applied = result.outcomes[0].applied
                if round_:  # round 0 creates the mock
                    calls.append(result.calls)
            found[kind] = (tuple(calls), budget(kind_mock(kind, 0), tombstones=0))
    return found


def changed_mock(round_: int) -> DesiredMock:
    """The entity's `default` mock, stamped, with content that differs every round; on even
    rounds its examples file has a new name."""
    version = service_version(ENTITY_REF, "default")
    fields = {"name": ENTITY_NAME, "version": version, "round": round_}
    main = _artifact("main", "openapi", "default--openapi.yaml", MAIN.format(**fields))
    examples = f"default--examples-{round_ // 2}.yaml"
    secondaries = (
        _artifact("secondary", "examples", examples, EXAMPLES.format(**fields)),
        _artifact("secondary", "metadata", "default--metadata.yaml", METADATA.format(**fields)),
    )
    return DesiredMock(
        ENTITY_REF, "default", ENTITY_NAME, version, False, main, secondaries, f"round-{round_}"
    )


def seed_unrelated(store, count: int) -> None:  # type: ignore[no-untyped-def]
    """Fill the server's store with `count` unrelated services without `count` HTTP uploads.

    One real import gives a template; copies are put straight into the store (an upload per
    service would only measure the seeding).
    """
    if count == 0:
        return
    template_doc = MAIN.format(name="unrelated-template", version="1.0.0", round=0)
    store.import_artifact(template_doc.encode(), "template.yaml", True)
    template = next(s for s in store.services() if s.name == "unrelated-template")
    with store._lock:  # noqa: SLF001 - bench-only bulk seeding of the local server
        store.delete(template.id)
        for i in range(count):
            service = copy.deepcopy(template)
            service.id = f"{i:024x}"
            service.name = f"unrelated-{i:05d}"
            # Some look like ours (same name prefix, our version scheme) without being ours.
            service.version = f"bk-{i:016x}-default" if i % 10 == 0 else "1.0.0"
            store._services[service.id] = service  # noqa: SLF001


class StoreTimer:
    """Times the local server's own store work, to separate it from the pipeline's cost."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self.seconds = 0.0
        for name in ("import_artifact", "search", "snapshot", "delete"):
            setattr(store, name, self._timed(getattr(store, name)))

    def _timed(self, method):  # type: ignore[no-untyped-def]
        def run(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return run


@dataclass(frozen=True)
class Row:
    services: int
    calls: tuple[int, ...]  # Microcks calls of each round's reconcile (token requests apart)
    budgets: tuple[int, ...]  # the budget of each round
    token_requests: tuple[int, ...]  # token-endpoint requests of each round (one run each)
    discoveries: tuple[int, ...]  # Keycloak config requests of each round (after the first)
    median_seconds: float
    median_outside_store: float  # minus the local server's in-memory store work

    @property
    def within_budget(self) -> bool:
        # The token endpoint found by the first run is remembered in the status store.
        return (
            all(c <= b for c, b in zip(self.calls, self.budgets, strict=True))
            and all(t <= 1 for t in self.token_requests)
            and not any(self.discoveries)
        )


def budget(mock: DesiredMock, tombstones: int) -> int:
    """1 entity search + 1 main upload + its secondaries + its tombstones + 1 read."""
    return 1 + 1 + len(mock.secondaries) + tombstones + 1


def measure(services: int, rounds: int) -> Row:
    config = ServerConfig(auth_enabled=True, clients={CLIENT_ID: (SECRET, ["user", "manager"])})
    with running_server(config) as server, tempfile.TemporaryDirectory() as tmp:
        status = StatusStore(f"sqlite:///{Path(tmp) / 'status.db'}")
        status.migrate()
        store = server.app.state.store
        seed_unrelated(store, services)
        timer = StoreTimer(store)
        log = server.app.state.calls
        # Round 0 creates the mock; each later round is one run with a client of its own.
        applied = _run(server.base_url, changed_mock(0), None, timer, status)[0].applied
        calls, budgets, tokens, discoveries = [], [], [], []
        seconds, outside = [], []
        for round_ in range(1, rounds + 1):
            mock = changed_mock(round_)
            log.clear()
            outcome, made, elapsed, in_store = _run(server.base_url, mock, applied, timer, status)
            assert outcome.action == "updated", outcome
            applied = outcome.applied
            calls.append(made)
            budgets.append(budget(mock, tombstones=1 if round_ % 2 == 0 else 0))
            tokens.append(len(log.calls(path_prefix="/auth/")))
            discoveries.append(len(log.calls(path_prefix="/api/keycloak/config")))
            seconds.append(elapsed)
            outside.append(elapsed - in_store)
    return Row(
        services,
        tuple(calls),
        tuple(budgets),
        tuple(tokens),
        tuple(discoveries),
        statistics.median(seconds),
        statistics.median(outside),
    )


def _run(base_url: str, mock: DesiredMock, applied, timer: StoreTimer, status: StatusStore):  # type: ignore[no-untyped-def]
    """One run: a fresh client and token reconciling the mock, built as a sync step builds it
    (the resource, with the status store that remembers the token endpoint). Returns its
    outcome, Microcks calls, the reconcile's seconds (the run's token fetched before: the
    times compare with a warm client) and the local server's store seconds within them."""
    resource = MicrocksResource(base_url=base_url, client_id=CLIENT_ID, client_secret=SECRET)
    with resource.client(store=status) as client:
        client.get_service(ENTITY_NAME, "warm-up")  # fetches the run's token (404 otherwise)
        timer.seconds = 0.0
        start = time.perf_counter()
        result = reconcile_entity(
            client, ENTITY_REF, ENTITY_NAME, upsert=[mock], applied={"default": applied}
        )
        elapsed = time.perf_counter() - start
    assert result.failed == (), result.failed
    (outcome,) = result.outcomes
    return outcome, result.calls, elapsed, timer.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)

    rows = [measure(size, args.rounds) for size in (0, args.services)]

    base = rows[0]
    print(
        f"reconcile of 1 changed mock (main + 2 secondaries; even rounds rename the examples "
        f"file: + 1 tombstone), one run per round, median of {args.rounds} rounds"
    )
    print(
        f"{'unrelated':>10} {'calls/mock':>11} {'budget':>7} {'tokens/run':>11} "
        f"{'discovery/run':>14} {'median ms':>10} {'x baseline':>11} "
        f"{'ms w/o server store':>20} {'x baseline':>11}"
    )
    for row in rows:
        print(
            f"{row.services:>10} {_span(row.calls):>11} {_span(row.budgets):>7} "
            f"{_span(row.token_requests):>11} {_span(row.discoveries):>14} "
            f"{row.median_seconds * 1000:>10.1f} "
            f"{row.median_seconds / base.median_seconds:>10.2f}x "
            f"{row.median_outside_store * 1000:>20.1f} "
            f"{row.median_outside_store / base.median_outside_store:>10.2f}x"
        )
    same = all(row.calls == base.calls for row in rows)
    met = all(row.within_budget for row in rows)
    per_kind = measure_kinds(max(2, args.rounds // 2))
    print("\nevery kind: calls per changed mock (main + its example secondary), fresh run each")
    print(f"{'kind':>10} {'calls/mock':>11} {'budget':>7}")
    for kind, (calls, limit) in per_kind.items():
        print(f"{kind:>10} {_span(calls):>11} {limit:>7}")
    kinds_met = all(max(calls) <= limit for calls, limit in per_kind.values())
    print(f"every kind within the OpenAPI budget: {'yes' if kinds_met else 'NO'}")
    met = met and kinds_met
    print(f"call count independent of the service count: {'yes' if same else 'NO'}")
    print(
        f"calls within budget (per mock; per run <= 1 token request, no Keycloak discovery once known): {'yes' if met else 'NO'}"
    )
    return 0 if same and met else 1


def _span(values: tuple[int, ...]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


if __name__ == "__main__":
    sys.exit(main())
