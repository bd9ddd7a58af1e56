"""The dashboard's routes (login, reports, calls, live, settings); see backend/dashboard/."""

from __future__ import annotations

from backend.dashboard.routes import routes

__all__ = ["routes"]
