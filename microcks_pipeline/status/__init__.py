"""The read-only status service: the status store as versioned JSON and Prometheus metrics."""

from microcks_pipeline.status.app import create_app
from microcks_pipeline.status.server import running_status_server, serve_status

__all__ = ["create_app", "running_status_server", "serve_status"]
