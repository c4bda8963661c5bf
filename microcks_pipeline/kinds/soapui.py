"""SoapUI projects: Microcks imports any XML (`<?xml` beginning a line) as one, so a bare WSDL is
misdetected and refused here with that reason. The identity is the mock service's `name`
attribute and its `version` property; the stamp sets both. One mock is one Microcks service, so
the project must hold exactly one mock service. Served at `POST /soap/{name}/{version}` with the
operation's SOAPAction (SOAP_HTTP), or under `/rest/…` for a REST mock service.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from microcks_pipeline.core.desired import ArtifactFacts, Dispatch
from microcks_pipeline.core.errors import ConfigError
from microcks_pipeline.kinds.base import (
    NO_EXAMPLE,
    Endpoints,
    HttpPostServing,
    Kind,
    Parsed,
    ProbeResult,
    first_exchange,
    text,
)

CON = "http://eviware.com/soapui/config"
_C = "{" + CON + "}"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_SCRIPT_STYLES = ("SCRIPT", "GROOVY", "JS")


def _text(element: ET.Element | None) -> str:
    return "".join(element.itertext()) if element is not None else ""


class SoapUI(Kind):
    name = "soapui"
    title = "SoapUI project"
    service_type = "SOAP_HTTP"

    def matches(self, line: str) -> bool:
        return line.startswith("<?xml")

    def parse(self, content: bytes) -> Parsed:
        source = text(content)
        namespaces: list[tuple[str, str]] = []
        try:
            for _event, ns in ET.iterparse(io.StringIO(source), events=("start-ns",)):
                namespaces.append(ns)  # type: ignore[arg-type]
            root = ET.fromstring(source)
        except ET.ParseError as exc:
            raise ConfigError(f"not well-formed XML: {exc}") from None
        if root.tag == "{" + _WSDL + "}definitions":
            raise ConfigError(
                "a bare WSDL: Microcks reads any XML as a SoapUI project and finds no mock "
                "service in it; declare a SoapUI project with a SOAP mock service instead"
            )
        if root.tag != _C + "soapui-project":
            raise ConfigError(
                f"XML root {root.tag!r} is not a SoapUI project (Microcks reads any XML as one)"
            )
        services = root.findall(_C + "mockService") + root.findall(_C + "restMockService")
        if len(services) != 1:
            raise ConfigError(
                f"the SoapUI project must hold exactly one mock service (found {len(services)}); "
                "one mock is one Microcks service"
            )
        return Parsed(self, (root, services[0], namespaces), "xml", ".xml")

    def _service(self, parsed: Parsed) -> ET.Element:
        return parsed.value[1]

    def stamp(self, parsed: Parsed, name: str, version: str) -> bytes:
        root, service, namespaces = parsed.value
        root = _copy(root)
        service = (root.findall(_C + "mockService") + root.findall(_C + "restMockService"))[0]
        service.set("name", name)
        properties = service.find(_C + "properties")
        if properties is None:
            properties = ET.SubElement(service, _C + "properties")
        for prop in properties.findall(_C + "property"):
            if _text(prop.find(_C + "name")) == "version":
                value = prop.find(_C + "value")
                if value is None:
                    value = ET.SubElement(prop, _C + "value")
                value.text = version
                break
        else:
            prop = ET.SubElement(properties, _C + "property")
            ET.SubElement(prop, _C + "name").text = "version"
            ET.SubElement(prop, _C + "value").text = version
        for prefix, uri in namespaces:
            ET.register_namespace(prefix, uri)
        body = ET.tostring(root, encoding="unicode")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")

    def facts(self, parsed: Parsed) -> ArtifactFacts:
        service = self._service(parsed)
        dispatchers: dict[str, Dispatch] = {}
        for operation in service.findall(_C + "mockOperation"):
            style = _text(operation.find(_C + "dispatchStyle")) or None
            rules: str | None = None
            if style == "QUERY_MATCH":
                query = operation.find(f"{_C}dispatchConfig/{_C}query/{_C}query")
                rules = _text(query) if query is not None else None
            elif style in _SCRIPT_STYLES:
                rules = _text(operation.find(_C + "dispatchPath"))
            dispatchers[operation.get("name") or ""] = (style, rules)
        rest = service.tag == _C + "restMockService"
        return ArtifactFacts(
            kind=self.name,
            purpose=self.purpose,
            service_type="REST" if rest else "SOAP_HTTP",
            dispatchers=None if rest else dispatchers,
        )


def _copy(root: Any) -> ET.Element:
    return ET.fromstring(ET.tostring(root))


SOAPUI = SoapUI()


# ---- serving: POST /soap/{name}/{version} with the operation's SOAPAction ----------------------


def _canonical(text: str) -> str | None:
    try:
        return ET.canonicalize(text, strip_text=True)
    except ET.ParseError:
        return None


class SoapServing(HttpPostServing):
    service_type = "SOAP_HTTP"
    prefix = "soap"

    def probe(
        self, endpoints: Endpoints, view: Mapping[str, Any], http: Any, **_: Any
    ) -> ProbeResult:
        example = first_exchange(view)
        if example is None:
            return NO_EXAMPLE
        url = self.address(endpoints, view)
        operations = (view.get("service") or {}).get("operations") or ()
        action = next(
            (str(o.get("action") or "") for o in operations if o.get("name") == example.operation),
            "",
        )
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action}
        answer = self.post(http, url, example, headers)
        if isinstance(answer, ProbeResult):
            return answer
        where, expected = example.where, int(example.response.get("status") or 200)
        if answer.status_code != expected:
            return ProbeResult(
                False, f"{where}: HTTP {answer.status_code}, expected {expected}", url
            )
        if _canonical(answer.text) != _canonical(str(example.response.get("content") or "")):
            return ProbeResult(False, f"{where}: body differs from the example", url)
        return ProbeResult(
            True, f"{where} (SOAPAction '{action}'): answered as the example says", url
        )


SOAP = SoapServing()
