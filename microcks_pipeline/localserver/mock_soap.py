"""The `/soap/{service}/{version}` mock endpoint, as Microcks' SoapController: operation by
SOAPAction header, else by the body element's name; QUERY_MATCH (XPath) and RANDOM dispatch."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from urllib.parse import unquote

from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse

from . import dispatch as d
from .importer_soapui import xpath_value
from .model import Operation, Service
from .store import Store


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body, status, media_type="text/plain;charset=UTF-8")


def _body_element(document: str) -> str | None:
    """Local name of the first element inside the SOAP Body."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        return None
    for element in root.iter():
        if element.tag.endswith("}Body") or element.tag == "Body":
            first = next(iter(element), None)
            return first.tag.rsplit("}", 1)[-1] if first is not None else None
    return None


def find_operation(service: Service, action: str | None, document: str) -> Operation | None:
    if action:
        action = action.strip().strip('"')
        found = next((op for op in service.operations if op.action and op.action == action), None)
        if found is not None:
            return found
    element = _body_element(document)
    return next(
        (op for op in service.operations if element in (op.input_name, op.name)),
        None,
    )


async def serve_soap(request: HttpRequest) -> HttpResponse:
    store: Store = request.app.state.store
    name = unquote(request.path_params["service"]).replace("+", " ")
    version = unquote(request.path_params["version"])
    snapshot = store.snapshot_by_name(name, version)
    if snapshot is None:
        return _text(f"The service {name} with version {version} does not exist!", 404)
    document = (await request.body()).decode("utf-8", errors="replace")
    operation = find_operation(snapshot.service, request.headers.get("soapaction"), document)
    if operation is None:
        return _text("No operation found for this SOAP request", 400)
    responses = [p.response for p in snapshot.pairs_of(operation.name) if p.response is not None]
    if operation.dispatcher == d.QUERY_MATCH:
        criteria = xpath_value(operation.dispatcher_rules or "", document)
        responses = [r for r in responses if r.dispatch_criteria == criteria]
    elif operation.dispatcher == "RANDOM" and responses:
        responses = [random.choice(responses)]
    elif operation.dispatcher in ("SCRIPT", "GROOVY", "JS"):
        responses = []  # scripts are not evaluated by this server
    if not responses:
        return _text(f"The response for operation {operation.name} does not exist!", 400)
    response = responses[0]
    return HttpResponse(
        (response.content or "").encode("utf-8"),
        int(response.status or "200"),
        media_type="text/xml;charset=UTF-8",
    )
