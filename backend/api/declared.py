"""OpenAPI declarations of ``/api`` routes written in other modules.

A module that cannot (or does not yet) use the :func:`backend.api.openapi.operation`
decorator is described here with :func:`backend.api.openapi.declare`, so that the document
covers every ``/api`` route (a test fails when one is missing).
"""

from __future__ import annotations
