"""Start-up objects are frozen out of the garbage collector's sight, once per process."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from backend import app as app_module
from backend.app import create_app
from backend.settings import Settings


@pytest.fixture
def unfrozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    gc.unfreeze()
    monkeypatch.setattr(app_module, "_startup_frozen", False)
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
async def test_the_first_app_start_freezes_and_later_ones_do_not(settings: Settings) -> None:
    assert gc.get_freeze_count() == 0
    first = create_app(settings)
    async with first.router.lifespan_context(first):
        frozen = gc.get_freeze_count()
        # Modules, routes, patterns: what lives as long as the process.
        assert frozen > 10_000
        second = create_app(settings)
        async with second.router.lifespan_context(second):
            # A later app (the test suite builds hundreds) leaves its garbage collectable.
            assert gc.get_freeze_count() <= frozen
