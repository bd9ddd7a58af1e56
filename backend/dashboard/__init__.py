"""The dashboard: server-rendered pages for reports, calls, live calls and settings.

Handlers are thin: they read filters, call ``attribution.reports`` and the small query
helpers here, and render jinja2 templates from ``backend/templates``.
"""
