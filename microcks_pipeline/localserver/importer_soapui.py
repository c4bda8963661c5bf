"""SoapUI project importer as Microcks' SoapUIProjectImporter: one SOAP_HTTP service per
`con:mockService` (name attribute, `version` property), operations from its mock operations,
examples pairing test-step requests with mock responses (QUERY_MATCH, SCRIPT, RANDOM styles).
REST mock services (`con:restMockService`) are not imported here."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from . import dispatch as d
from .importers import Exchange, ImportRejected, ParsedService
from .model import Operation, Request, Response, Service

CON = "{http://eviware.com/soapui/config}"
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
SCRIPT_STYLES = ("SCRIPT", "GROOVY", "JS")


def _child(element: ET.Element | None, tag: str) -> ET.Element | None:
    return element.find(CON + tag) if element is not None else None


def _children(element: ET.Element | None, tag: str) -> list[ET.Element]:
    return element.findall(CON + tag) if element is not None else []


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()) if element is not None else ""


def xpath_value(expression: str, document: str) -> str:
    """XPath string value of `declare namespace p='uri'; //p:a/b`-style SoapUI queries.

    Only descendant/child steps with prefixes are understood, which is what SoapUI writes.
    """
    namespaces = dict(
        re.findall(r"declare\s+namespace\s+(\w+)\s*=\s*['\"]([^'\"]+)['\"]\s*;", expression)
    )
    path = re.sub(r"declare\s+namespace\s+\w+\s*=\s*['\"][^'\"]+['\"]\s*;", "", expression).strip()
    steps = re.sub(
        r"(\w+):(\w+)", lambda m: "{" + namespaces.get(m.group(1), "") + "}" + m.group(2), path
    )
    steps = "." + steps if steps.startswith("//") else "./" + steps.lstrip("/")
    try:
        root = ET.fromstring(document)
        # A document-rooted path starts at the root element's parent.
        found = ET.ElementTree(ET.Element("doc", {})).getroot()
        found.append(root)
        match = found.find(steps)
    except (ET.ParseError, SyntaxError, KeyError):
        return ""
    return _text(match) if match is not None else ""


def _wsdl_parts(interface: ET.Element | None, operation: str) -> tuple[str | None, str | None]:
    """completeOperationPartsFromWsdl: element names of the operation's input and output
    message parts in the cached WSDL; (None, None) when it cannot tell."""
    part = next(iter(_children(_child(interface, "definitionCache"), "part")), None)
    try:
        wsdl = ET.fromstring(_text(_child(part, "content")).encode("utf-8"))
    except ET.ParseError:
        return None, None
    binding = wsdl.find(WSDL + "binding")
    found = next(
        (
            o
            for o in (binding.findall(WSDL + "operation") if binding is not None else [])
            if o.get("name") == operation
        ),
        None,
    )
    if found is None:
        return None, None
    messages = {m.get("name"): m for m in wsdl.findall(WSDL + "message")}

    def element(direction: str) -> str | None:
        node = found.find(WSDL + direction)
        message = messages.get(node.get("name")) if node is not None else None
        first = message.find(WSDL + "part") if message is not None else None
        if first is None:
            return None
        name = first.get("element", "")
        return name[name.index(":") + 1 :] if ":" in name else name

    return element("input"), element("output")


def _version(mock_service: ET.Element) -> str:
    for prop in _children(_child(mock_service, "properties"), "property"):
        if _text(_child(prop, "name")) == "version":
            return _text(_child(prop, "value"))
    raise ImportRejected("Version property is missing in Project properties")


class SoapUIProjectImporter:
    def __init__(self, text: str) -> None:
        try:
            self.project = ET.fromstring(text.encode("utf-8"))
        except ET.ParseError as exc:
            raise ImportRejected("SoapUI project file parsing error") from exc
        # Any other XML (a bare WSDL...) parses too and simply holds no mock service: Microcks
        # then imports nothing and answers 204.
        self.interfaces = {i.get("name"): i for i in _children(self.project, "interface")}

    def _interface_operation(self, mock_operation: ET.Element) -> ET.Element | None:
        interface = self.interfaces.get(mock_operation.get("interface"))
        return next(
            (
                o
                for o in _children(interface, "operation")
                if o.get("name") == mock_operation.get("operation")
            ),
            None,
        )

    def services(self) -> list[ParsedService]:
        results = []
        for mock_service in _children(self.project, "mockService"):
            xml_ns = None
            operations = []
            for mock_operation in _children(mock_service, "mockOperation"):
                interface = self.interfaces.get(mock_operation.get("interface"))
                if interface is not None:
                    binding = interface.get("bindingName") or ""
                    xml_ns = binding[1 : binding.index("}")] if binding.startswith("{") else binding
                source = self._interface_operation(mock_operation)
                # No `method`: Microcks sets none on SOAP operations.
                operation = Operation(
                    name=mock_operation.get("name") or "",
                    action=source.get("action") if source is not None else None,
                )
                operation.input_name, operation.output_name = _wsdl_parts(interface, operation.name)
                if operation.input_name is None and source is not None:
                    operation.input_name = source.get("inputName")
                if operation.output_name is None and source is not None:
                    operation.output_name = source.get("outputName")
                operation.dispatcher = _text(_child(mock_operation, "dispatchStyle")) or None
                if operation.dispatcher == d.QUERY_MATCH:
                    queries = _children(_child(mock_operation, "dispatchConfig"), "query")
                    operation.dispatcher_rules = (
                        _text(_child(queries[0], "query")) if queries else None
                    )
                elif operation.dispatcher in SCRIPT_STYLES:
                    operation.dispatcher_rules = _text(_child(mock_operation, "dispatchPath"))
                operations.append(operation)
            results.append(
                ParsedService(
                    name=mock_service.get("name") or "",
                    version=_version(mock_service),
                    type="SOAP_HTTP",
                    metadata=None,
                    operations=operations,
                    xml_ns=xml_ns,
                )
            )
        return results

    def _test_requests(self, operation_name: str) -> dict[str, ET.Element]:
        """collectTestStepsRequests: test-step requests of the operation, by name."""
        found = {}
        for step in self.project.iter(CON + "testStep"):
            config = _child(step, "config")
            if _text(_child(config, "operation")) == operation_name:
                request = _child(config, "request")
                if request is not None:
                    found[request.get("name") or step.get("name") or ""] = request
        return found

    def messages(self, service: Service, operation: Operation) -> list[Exchange]:
        result: list[Exchange] = []
        for mock_service in _children(self.project, "mockService"):
            if mock_service.get("name") != service.name:
                continue
            for mock_operation in _children(mock_service, "mockOperation"):
                if mock_operation.get("operation") != operation.name:
                    continue
                result.extend(self._operation_messages(operation, mock_operation))
                break
            break
        return result

    def _operation_messages(
        self, operation: Operation, mock_operation: ET.Element
    ) -> list[Exchange]:
        requests = self._test_requests(operation.name)
        responses = {r.get("name"): r for r in _children(mock_operation, "response")}
        candidates = []
        for name in responses:
            request = (
                requests.get(name or "")
                or requests.get(f"{name} Request")
                or (
                    requests.get((name or "").replace("Response", "Request"))
                    if "Response" in (name or "")
                    else None
                )
            )
            if request is not None:
                candidates.append(request)
        result: list[Exchange] = []
        if operation.dispatcher == d.QUERY_MATCH:
            matches = {
                _text(_child(q, "match")): _text(_child(q, "response"))
                for q in _children(_child(mock_operation, "dispatchConfig"), "query")
            }
            for request in candidates:
                criteria = xpath_value(
                    operation.dispatcher_rules or "", _text(_child(request, "request"))
                )
                response = responses.get(matches.get(criteria))
                if response is not None:
                    result.append((_request(request), _response(response, criteria)))
        elif operation.dispatcher in SCRIPT_STYLES:
            for request in candidates:
                name = request.get("name") or ""
                response = responses.get(name) or responses.get(
                    name.replace(" Request", " Response")
                )
                if response is not None:
                    result.append((_request(request), _response(response, response.get("name"))))
        elif operation.dispatcher == "RANDOM" and requests:
            first = next(iter(requests.values()))
            for response in responses.values():
                request = _request(first)
                request.name = operation.name
                result.append((request, _response(response, "RANDOM")))
        return result


def _request(element: ET.Element) -> Request:
    return Request(name=element.get("name") or "", content=_text(_child(element, "request")))


def _response(element: ET.Element, criteria: str | None) -> Response:
    """buildResponse: DOM getAttribute gives "" for an absent status or media type."""
    status = element.get("httpResponseStatus", "")
    return Response(
        name=element.get("name") or "",
        content=_text(_child(element, "responseContent")),
        status=status,
        media_type=element.get("mediaType", ""),
        dispatch_criteria=criteria,
        fault=status == "500",
    )
