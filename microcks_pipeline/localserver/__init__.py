"""A Microcks-compatible server for the demo and the tests (independent of the rest of the package).

Layout: config (ServerConfig), jsonnode (Jackson-like reading), importers (detection,
OpenAPI/Swagger, APIExamples/APIMetadata) and importer_<kind> (AsyncAPI, GraphQL, protobuf,
Postman, SoapUI, HAR), dispatch (dispatch criteria), store (repository + import rules), api
(/api endpoints), mocks (/rest), mock_graphql, mock_soap, mock_events (WebSocket, features
config), grpc_server, auth + oidc (Keycloak stand-in, role rules), faults + control (fault
injection), app (wiring), runner (uvicorn and the gRPC server).
"""

from .app import create_app
from .config import DEFAULT_CLIENT_ID, ServerConfig
from .faults import Call, Faults, FaultsDisabled, RequestLog
from .runner import RunningServer, running_server, serve
from .store import Store

__all__ = [
    "DEFAULT_CLIENT_ID",
    "Call",
    "Faults",
    "FaultsDisabled",
    "RequestLog",
    "RunningServer",
    "ServerConfig",
    "Store",
    "create_app",
    "running_server",
    "serve",
]
