"""HAR importer, Microcks' default importer for content no other rule recognises (HARImporter):
its checks and its identity (`microcksId:` in `log.comment`) as Microcks has them; entries are not
turned into operations here (see README)."""

from __future__ import annotations

import re

from .importers import Exchange, ImportRejected, ParsedService, java_trim, jackson_parse_message
from .jsonnode import ParseError, as_text, load_json, path
from .model import Operation, Service

VALID_VERSIONS = ("1.1", "1.2")
MICROCKS_ID_STARTER = "microcksId:"


class HARImporter:
    def __init__(self, text: str) -> None:
        try:
            self.spec = load_json(text)
        except ParseError as exc:
            raise ImportRejected(jackson_parse_message(text)) from exc

    def services(self) -> list[ParsedService]:
        log = path(self.spec, "log")
        if as_text(path(log, "version")) not in VALID_VERSIONS:
            raise ImportRejected("HAR version is not supported. Currently supporting: [1.1, 1.2]")
        comment = as_text(path(log, "comment"))
        if not comment:
            raise ImportRejected(
                "Expecting a comment in HAR log to specify Microcks service identifier"
            )
        name = version = None
        for line in re.split(r"\r?\n|\r", comment):
            line = java_trim(line)
            if line.startswith(MICROCKS_ID_STARTER):
                identifiers = line[len(MICROCKS_ID_STARTER) :]
                if ":" not in identifiers:
                    raise ImportRejected(
                        "microcksId comment is malformed. Expecting 'microcksId: <API_name>:<API_version>'"
                    )
                pieces = identifiers.split(":")
                name, version = java_trim(pieces[0]), java_trim(pieces[1])
        if name is None or version is None:
            # Microcks' own text (copied from its GraphQL importer).
            raise ImportRejected(
                "No microcksId: comment found into GraphQL schema to get API name and version"
            )
        raise ImportRejected(
            "HAR entries are not imported by this local Microcks-compatible server "
            f"({name}:{version})"
        )

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        return []
