"""SOAP APIs on the local Microcks server: a SoapUI project main and `POST /soap/{service}/{version}`
(Microcks' SoapUIProjectImporter and SoapController)."""

from __future__ import annotations

import pytest
from localserver_fixtures import open_client, relaxed_schema_errors, sample

HELLO = "/soap/HelloService Mock/0.9"
ENVELOPE = (
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:hel="http://www.example.com/hello"><soapenv:Header/><soapenv:Body>'
    "<hel:{element}><name>{name}</name></hel:{element}></soapenv:Body></soapenv:Envelope>"
)


def hello_client():
    client = open_client()
    answer = client.upload(sample("HelloService-to-set-proxy-soapui-project.xml"), "hello.xml")
    assert (answer.status_code, answer.text) == (201, "HelloService Mock:0.9")
    return client


def _say_hello(client, name: str, **headers: str):
    body = ENVELOPE.format(element="sayHello", name=name)
    return client.post(HELLO, content=body, headers={"Content-Type": "text/xml", **headers})


@pytest.mark.parametrize("name", ["Andrew", "Karla"])
def test_envelope_is_answered_with_the_response_its_xpath_query_matches(name):
    client = hello_client()

    answer = _say_hello(client, name)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/xml;charset=UTF-8"
    assert f"<sayHello>Hello {name} !</sayHello>" in answer.text
    assert "<hel:sayHelloResponse>" in answer.text


def test_fault_response_is_answered_500_and_soap12_gets_its_content_type():
    client = hello_client()
    body = ENVELOPE.format(element="sayHello", name="World")

    answer = client.post(HELLO, content=body, headers={"Content-Type": "application/soap+xml"})

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/soap+xml;charset=UTF-8"
    assert "Fault" in answer.text


def test_unmatched_value_unknown_operation_and_unknown_service_answer_microcks_texts():
    client = hello_client()

    unmatched = _say_hello(client, "Nobody")
    other_element = client.post(
        HELLO, content=ENVELOPE.format(element="sayBye", name="A"), headers={"SOAPAction": "bye"}
    )
    no_service = client.post("/soap/Other/1.0", content="<a/>")

    assert (unmatched.status_code, unmatched.text) == (400, "The response Nobody does not exist!")
    assert (other_element.status_code, other_element.text) == (
        404,
        "The operation bye does not exist!",
    )
    assert (no_service.status_code, no_service.text) == (
        404,
        "The service Other with version 1.0 does not exist!",
    )


def test_soap_service_view_has_operation_action_names_and_pairs():
    client = hello_client()

    view = client.get("/api/services/HelloService Mock:0.9").json()

    service = view["service"]
    assert (service["type"], service["xmlNS"]) == ("SOAP_HTTP", "http://www.example.com/hello")
    [operation] = service["operations"]
    assert operation["name"] == "sayHello"
    assert (operation["inputName"], operation["outputName"]) == ("sayHello", "sayHelloResponse")
    assert operation["dispatcher"] == "QUERY_MATCH"
    assert operation["dispatcherRules"].strip().endswith("//ser:sayHello/name")
    pairs = view["messagesMap"]["sayHello"]
    assert sorted((p["request"]["name"], p["response"]["dispatchCriteria"]) for p in pairs) == [
        ("Andrew Request", "Andrew"),
        ("Karla Request", "Karla"),
        ("World Request", "World"),
    ]
    assert relaxed_schema_errors(view, "ServiceView") == []


def test_project_without_version_property_is_refused():
    client = open_client()
    project = sample("HelloService-to-set-proxy-soapui-project.xml").decode()
    project = project.replace("<con:name>version</con:name>", "<con:name>release</con:name>")

    answer = client.upload(project, "hello.xml")

    assert (answer.status_code, answer.text) == (
        400,
        "Version property is missing in Project properties",
    )


def test_soap_action_header_chooses_the_operation_before_the_body_element():
    client = open_client()
    project = sample("HelloService-to-set-proxy-soapui-project.xml").decode()
    project = project.replace('action="" name="sayHello"', 'action="urn:hello" name="sayHello"')
    client.upload(project, "hello.xml")
    # The body's first element (`greet`) names no operation: only the SOAPAction finds sayHello,
    # whose XPath (//ser:sayHello/name) still matches deeper down.
    body = ENVELOPE.format(element="greet", name="Andrew").replace(
        "<name>Andrew</name>", "<hel:sayHello><name>Andrew</name></hel:sayHello>"
    )

    by_action = client.post(HELLO, content=body, headers={"SOAPAction": '"urn:hello"'})
    by_soap12_action = client.post(
        HELLO, content=body, headers={"Content-Type": 'application/soap+xml;action="urn:hello"'}
    )
    without_action = client.post(HELLO, content=body, headers={"Content-Type": "text/xml"})

    assert "Hello Andrew !" in by_action.text
    assert "Hello Andrew !" in by_soap12_action.text
    assert (without_action.status_code, without_action.text) == (
        404,
        "The operation greet does not exist!",
    )
