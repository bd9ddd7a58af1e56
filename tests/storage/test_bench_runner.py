"""The ``python -m bench`` runner: discovery and the generated part of docs/benchmarks.md."""

from __future__ import annotations

import importlib
from pathlib import Path

runner = importlib.import_module("bench.__main__")


def test_discovery_finds_benchmarks_and_skips_helpers() -> None:
    found = runner.discover()
    assert "scaleout" in found
    assert "_load" not in found and "__main__" not in found


def test_the_generated_block_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Scale-out\n\nnotes by hand\n", encoding="utf-8")
    first = runner.render([runner.Outcome("alpha", 0, 1.0, "| a | b |\n|---|---|\n| 1 | 2 |", "")])
    runner.write_doc(first, doc)
    second = runner.render([runner.Outcome("beta", 3, 2.0, "plain text", "Traceback: boom")])
    runner.write_doc(second, doc)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\n## Scale-out\n\nnotes by hand\n")
    assert text.count(runner.START) == 1 and text.count(runner.END) == 1
    assert "bench.alpha" not in text
    assert "| `bench.beta` | exit 3 |" in text and "Traceback: boom" in text
    assert "```text\nplain text\n```" in text
