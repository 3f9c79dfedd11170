"""The framework routes, one module per group, each with ``router(relay) -> APIRouter``:
``challenges`` (client), ``keys`` and ``clients`` (admin), ``webauthn`` (admin
registration ceremony), ``audit`` (the log's read API and its checkpoint),
``ops`` (health, readiness, metrics) and ``demo`` (``--demo`` only). The two
verification operations are plain ASGI (``relay.http.verify``)."""
