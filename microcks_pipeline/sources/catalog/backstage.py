"""The Backstage HTTP catalog source: API entities from `/api/catalog/entities/by-query`.

A listing pages through the whole filtered set with cursors and is all or nothing: a failure on
any page (connection, timeout, non-200, bad JSON, a page without `items`, a cursor loop) raises
CatalogUnavailable, never returns part of the set. Messages never contain the token.

An entity's location comes from `backstage.io/managed-by-location` (falling back to
`backstage.io/source-location`). When neither names a `url:` or `file:` location, the entity is
still listed, with an `EntityLocation("none", ...)` whose `base_dir` raises ConfigError: whatever
needs its base folder fails with a clear message on that entity only, and is not silently
resolved against some other place.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from microcks_pipeline.core.errors import CatalogUnavailable, ConfigError
from microcks_pipeline.core.identity import ANNOTATION
from microcks_pipeline.core.model import CatalogSnapshot, Entity, EntityLocation
from microcks_pipeline.sources.catalog.documents import managed_api, normalize_ref
from microcks_pipeline.sources.scm import GITHUB_ROOT, GITLAB_ROOT, with_segment

MANAGED_BY_LOCATION = "backstage.io/managed-by-location"
SOURCE_LOCATION = "backstage.io/source-location"
QUERY_FILTER = f"kind=api,metadata.annotations.{ANNOTATION}"
QUERY_FIELDS = "kind,metadata,spec"

_TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]+$")


class BackstageCatalog:
    """Lists managed API entities from a Backstage backend; keeps one HTTP client (see `close`)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        page_size: int = 100,
        transport: httpx.BaseTransport | None = None,
        max_pages: int = 1000,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the Backstage URL must be an absolute http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError(
                "the Backstage URL must be the backend base URL, without credentials, query or "
                "fragment (pass the token separately)"
            )
        if token is not None and not _TOKEN_PATTERN.match(token):
            # Checked here so that no error further down can echo a malformed token.
            raise ValueError("the catalog token must be printable ASCII without whitespace")
        if page_size < 1 or max_pages < 1:
            raise ValueError("page_size and max_pages must be positive")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.max_pages = max_pages
        self._token = token
        self._shown = self.base_url  # safe for messages: no credentials, checked above
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,  # a redirect elsewhere must not carry the token
        )

    def __repr__(self) -> str:
        return f"BackstageCatalog({self._shown!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> BackstageCatalog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def list_entities(self) -> CatalogSnapshot:
        """Every managed API entity, or CatalogUnavailable; invalid items make it incomplete."""
        url = f"{self.base_url}/api/catalog/entities/by-query"
        params: dict[str, str | int] = {
            "filter": QUERY_FILTER,
            "limit": self.page_size,
            "fields": QUERY_FIELDS,
        }
        items: list[Any] = []
        seen_cursors: set[str] = set()
        for page in range(1, self.max_pages + 1):
            body = self._get_json(url, params, what=f"page {page} of the entity listing")
            page_items = body.get("items") if isinstance(body, Mapping) else None
            if not isinstance(page_items, list):
                raise CatalogUnavailable(
                    f"Backstage catalog at {self._shown}: page {page} of the entity listing "
                    "has no 'items' list"
                )
            items.extend(page_items)
            page_info = body.get("pageInfo")
            cursor = page_info.get("nextCursor") if isinstance(page_info, Mapping) else None
            if not cursor:
                return _snapshot(items)
            if not isinstance(cursor, str) or cursor in seen_cursors:
                raise CatalogUnavailable(
                    f"Backstage catalog at {self._shown}: page {page} repeats an earlier "
                    "cursor; the listing would never end"
                )
            seen_cursors.add(cursor)
            # With a cursor the backend ignores filters: they are encoded in the cursor.
            params = {"cursor": cursor, "limit": self.page_size, "fields": QUERY_FIELDS}
        raise CatalogUnavailable(
            f"Backstage catalog at {self._shown}: the entity listing did not end after "
            f"{self.max_pages} pages"
        )

    def expect(self, refs: Iterable[str]) -> None:
        """Nothing to prepare: `get_entity` asks Backstage for the one entity by its ref."""

    def get_entity(self, ref: str) -> Entity | None:
        """The managed entity with this ref, None when Backstage has none (404) or it is not ours."""
        wanted = normalize_ref(ref)
        namespace, name = wanted.removeprefix("api:").split("/", 1)
        url = (
            f"{self.base_url}/api/catalog/entities/by-name/api/"
            f"{quote(namespace, safe='')}/{quote(name, safe='')}"
        )
        body = self._get_json(url, {}, what=f"entity {wanted}", missing_ok=True)
        if body is None:
            return None
        try:
            api = managed_api(body)
        except ConfigError as exc:
            raise CatalogUnavailable(
                f"Backstage catalog at {self._shown}: entity {wanted} is invalid: {exc}",
                entity_ref=wanted,
            ) from None
        if api is None or api.ref != wanted:
            return None
        return api.entity(location_of(api.annotations))

    def refresh_entity(self, ref: str) -> None:
        """Ask Backstage to process the entity again now (`POST /api/catalog/refresh`), so what
        it shows of the entity follows a sync within seconds; CatalogUnavailable when refused."""
        wanted = normalize_ref(ref)
        url = f"{self.base_url}/api/catalog/refresh"
        what = f"refresh of {wanted}"
        response = self._send("POST", url, what=what, json={"entityRef": wanted})
        if not 200 <= response.status_code < 300:
            raise CatalogUnavailable(f"{self._where(what)}: HTTP {response.status_code}")

    def _get_json(
        self, url: str, params: Mapping[str, str | int], *, what: str, missing_ok: bool = False
    ) -> Any:
        response = self._send("GET", url, what=what, params=params)
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        if status != 200:
            raise CatalogUnavailable(f"{self._where(what)}: HTTP {status}")
        try:
            return response.json()
        except ValueError:
            raise CatalogUnavailable(f"{self._where(what)}: the response is not JSON") from None

    def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """The response, or CatalogUnavailable for no answer or a refused token (never naming it)."""
        where = self._where(what)
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise CatalogUnavailable(f"{where}: timed out") from None
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(
                f"{where}: request failed ({self._redact(type(exc).__name__)}: "
                f"{self._redact(str(exc))})"
            ) from None
        if response.status_code in (401, 403):
            refused = "was refused" if self._token else "is missing (no token configured)"
            raise CatalogUnavailable(
                f"{where}: HTTP {response.status_code}, the catalog token {refused}"
            )
        return response

    def _where(self, what: str) -> str:
        return f"Backstage catalog at {self._shown}: {what}"

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _snapshot(items: list[Any]) -> CatalogSnapshot:
    entities: dict[str, Entity] = {}
    problems: list[str] = []
    complete = True
    for index, item in enumerate(items):
        try:
            api = managed_api(item)
        except ConfigError as exc:
            # Backstage validated it, so this is odd; its identity is unknown: delete nothing.
            complete = False
            problems.append(f"item {index} of the listing ({_describe(item)}): {exc}")
            continue
        if api is None:
            continue
        if api.ref in entities:
            problems.append(f"{api.ref} is listed twice; the second copy is ignored")
            continue
        entities[api.ref] = api.entity(location_of(api.annotations))
    return CatalogSnapshot(
        entities=tuple(entities.values()), complete=complete, problems=tuple(problems)
    )


def _describe(item: Any) -> str:
    if isinstance(item, Mapping):
        metadata = item.get("metadata")
        if isinstance(metadata, Mapping) and isinstance(metadata.get("name"), str):
            return f"name {metadata['name']!r}"
    return "unnamed"


def location_of(annotations: Mapping[str, str]) -> EntityLocation:
    """Where the entity was read from, from its location annotations (see the module docstring)."""
    managed = _parse_location(annotations.get(MANAGED_BY_LOCATION, ""), is_dir=False)
    if managed is not None:
        return managed
    source = _parse_location(annotations.get(SOURCE_LOCATION, ""), is_dir=True)
    if source is not None:
        return source
    return EntityLocation("none", target="", repo_root="")


def _parse_location(value: str, *, is_dir: bool) -> EntityLocation | None:
    value = value.strip()
    if value.startswith(("http://", "https://")):
        kind, target = "url", value
    else:
        kind, _, target = value.partition(":")
    if kind == "url" and target.startswith(("http://", "https://")):
        if is_dir and not target.endswith("/"):
            target += "/"
        return _url_location(target, is_dir=is_dir)
    if kind == "file" and target.startswith("/"):
        if is_dir:
            # `base_dir` is the target's parent, so name a (nominal) file inside the folder.
            target = posixpath.join(target, "catalog-info.yaml")
        return EntityLocation("file", target, repo_root=posixpath.dirname(target))
    return None


def _url_location(url: str, *, is_dir: bool) -> EntityLocation:
    for pattern in (GITLAB_ROOT, GITHUB_ROOT):
        m = pattern.match(url)
        if m:
            if is_dir and m.group(2) == "tree":
                # A source-location names a folder (`tree`); files below it are `blob` URLs.
                url = with_segment(url, m, "blob")
            return EntityLocation("url", url, repo_root=m.group(1) + "blob" + m.group(3))
    folder = url if is_dir else url.rsplit("/", 1)[0] + "/"
    return EntityLocation("url", url, repo_root=folder)
