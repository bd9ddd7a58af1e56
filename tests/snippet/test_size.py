"""The snippet's size budget, and the committed build being the build of the source."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess

import httpx
import pytest

from tests.support.server import ROOT

SOURCE = ROOT / "snippet" / "dni.js"
BUILT = ROOT / "snippet" / "dist" / "dni.min.js"
BUDGET = 3000  # bytes, minified and gzipped


def test_minified_and_gzipped_snippet_fits_the_budget() -> None:
    size = len(gzip.compress(BUILT.read_bytes(), compresslevel=9))
    assert size <= BUDGET, f"dni.min.js is {size} bytes gzipped; the budget is {BUDGET}"


def _terser_options() -> list[str]:
    """The options the Makefile gives terser, so this test builds exactly as `make` does."""
    makefile = (ROOT / "Makefile").read_text()
    found = re.search(r"terser snippet/dni\.js (.*?) -o \$@", makefile)
    assert found, "the Makefile no longer builds snippet/dist/dni.min.js with terser"
    return found.group(1).split()


def test_the_committed_build_is_the_build_of_the_source() -> None:
    if not (ROOT / "node_modules" / ".bin" / "terser").exists() or not shutil.which("npx"):
        pytest.skip("terser is not installed (make installs it: npm install)")
    built = subprocess.run(
        ["npx", "--no-install", "terser", str(SOURCE), *_terser_options()],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    assert built.strip() == BUILT.read_bytes().strip(), "run `make snippet` and commit the build"


@pytest.mark.stores("sqlite")
async def test_the_server_sends_the_build_compressed_with_an_etag(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/dni.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.content == BUILT.read_bytes()
    assert r.headers["content-encoding"] == "gzip" and r.headers["etag"]
    again = await client.get("/dni.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
