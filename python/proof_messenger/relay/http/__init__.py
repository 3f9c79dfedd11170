"""The relay over HTTP: the app factory (``app``), the outer ASGI layer and the fast
verification dispatch (``middleware``, ``verify``), one module per route group
(``routes``), and what they share: guards (``guards``), bodies (``bodies``), the
JSON encoder (``encoding``), error answers (``errors``), schemas and the OpenAPI
document (``schemas``, ``openapi``)."""

from .app import RelayApp, create_app

__all__ = ["RelayApp", "create_app"]
