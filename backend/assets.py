"""Where the files served beside the app live: the snippet, examples, templates, static."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = PACKAGE_DIR.parent  # a checkout: snippet/ and examples/ sit beside backend/
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"


def snippet_file() -> Path:
    """The snippet to serve: the minified build when present, else the readable source."""
    candidates = [
        _SOURCE_ROOT / "snippet" / "dist" / "dni.min.js",
        STATIC_DIR / "snippet" / "dni.min.js",
        _SOURCE_ROOT / "snippet" / "dni.js",
        STATIC_DIR / "snippet" / "dni.js",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError("dni.js is missing from this installation")


def examples_dir(configured: str = "") -> Path:
    """The folder of example pages: the configured one, the checkout's, or the bundled one."""
    if configured:
        return Path(configured)
    checkout = _SOURCE_ROOT / "examples"
    return checkout if checkout.is_dir() else STATIC_DIR / "examples"
