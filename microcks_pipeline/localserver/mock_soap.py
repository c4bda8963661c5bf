"""The `/soap/{service}/{version}` mock endpoint, as Microcks' SoapController#execute: operation by
SOAPAction header, else by the body element's name; QUERY_MATCH (XPath), RANDOM and FALLBACK."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

from starlette.requests import Request as HttpRequest
from starlette.responses import Response as HttpResponse

from . import dispatch as d
from .importer_soapui import xpath_value
from .model import Operation, Service
from .store import Store

SCRIPT_STYLES = ("SCRIPT", "GROOVY", "JS")


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body, status, media_type="text/plain;charset=UTF-8")


def _body_element(document: str) -> str | None:
    """extractOperationName: local name of the first element inside the SOAP Body."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        return None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Body":
            first = next(iter(element), None)
            return first.tag.rsplit("}", 1)[-1] if first is not None else None
    return None


def soap_action(request: HttpRequest) -> str | None:
    """extractSoapAction: the SOAPAction header, else the `action` of a SOAP 1.2 content type."""
    action = request.headers.get("soapaction")
    if action is None:
        for piece in request.headers.get("content-type", "").split(";"):
            if piece.strip().startswith("action="):
                action = piece.strip()[len("action=") :]
    return action.strip().strip('"') if action is not None else None


def find_operation(service: Service, action: str | None, document: str) -> Operation | None:
    if action:
        found = next((op for op in service.operations if op.action == action), None)
        if found is not None:
            return found
    element = _body_element(document)
    if element is None:
        return None
    return next((op for op in service.operations if element in (op.input_name, op.name)), None)


async def serve_soap(request: HttpRequest) -> HttpResponse:
    store: Store = request.app.state.store
    # Path parameters come decoded (as Spring's); a `+` in the name stands for a space.
    name = request.path_params["service"].replace("+", " ")
    version = request.path_params["version"]
    snapshot = store.snapshot_by_name(name, version)
    if snapshot is None:
        return _text(f"The service {name} with version {version} does not exist!", 404)
    document = (await request.body()).decode("utf-8", errors="replace")
    action = soap_action(request)
    operation = find_operation(snapshot.service, action, document)
    if operation is None:
        shown = action or _body_element(document)
        return _text(f"The operation {shown} does not exist!", 404)
    dispatch = d.effective_dispatch(operation.dispatcher, operation.dispatcher_rules)
    dispatcher, rules, fallback = dispatch.dispatcher, dispatch.rules, dispatch.fallback
    if dispatcher == d.QUERY_MATCH:
        criteria: str | None = xpath_value(rules or "", document)
    elif dispatcher == "RANDOM":
        criteria = "RANDOM"
    elif dispatcher in SCRIPT_STYLES:
        criteria = None  # Groovy/JS scripts are not evaluated by this server
    else:
        return _text(f"The dispatch {dispatcher} is not supported!", 404)
    pairs = snapshot.pairs_of(operation.name)
    responses = [
        p.response for p in pairs if p.response and p.response.dispatch_criteria == criteria
    ]
    if not responses and fallback is not None:
        responses = [
            p.response for p in pairs if p.response and p.response.name == fallback.fallback
        ]
    if not responses:
        shown = "null" if criteria is None else criteria
        return _text(f"The response {shown} does not exist!", 400)
    response = random.choice(responses) if dispatcher == "RANDOM" else responses[0]
    content_type = request.headers.get("content-type")
    if content_type is None or content_type.startswith("application/soap+xml"):
        media_type = "application/soap+xml;charset=UTF-8"
    else:
        media_type = "text/xml;charset=UTF-8"
    status = 500 if response.fault else 200
    return HttpResponse((response.content or "").encode("utf-8"), status, media_type=media_type)
