"""The callpath web app and CLI: HTTP routes, telephony adapters, dashboard and storage."""

from backend.app import create_app

__all__ = ["create_app"]
