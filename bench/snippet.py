"""Snippet benchmark: its size, and the time to scan and swap a 10,000-element page.

Runs Debian's Chromium under Playwright. The page, the built ``snippet/dist/dni.min.js``
and the backend's answers are served from memory through Playwright routing (no network,
no server): this measures the browser side only. The page holds 10,000 elements — text,
links, ``tel:`` links, attributes — with about 90 occurrences of the three target numbers
in their various formats among other numbers, dates and prices.

For each round the page's content is rebuilt from the same HTML (fresh, unswapped nodes),
then timed, in the same page and run:

- baseline: a bare ``TreeWalker`` pass over every text node, reading each value;
- snippet: ``callpath('swap')``, which scans text, attributes and links and swaps every
  target number (the work of a first page view once the answer has come);
- rescan: ``callpath('swap')`` again over the swapped page (what a re-render costs when
  there is nothing left to swap).

Prints the medians and their ratio to the baseline.

    python -m bench.snippet [--rounds 15] [--elements 10000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
from pathlib import Path
from typing import Any

from attribution.swaps import swap
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
BUILT = ROOT / "snippet" / "dist" / "dni.min.js"
ORIGIN = "http://bench.callpath.test"

# The answer's swaps, with the match data the backend adds (attribution/swaps.py).
SWAPS = [
    swap(**s)
    for s in [
        {
            "target": "+81312345678",
            "number": "+815017000001",
            "national": "050-1700-0001",
            "international": "+81 50-1700-0001",
        },
        {
            "target": "+81120123456",
            "number": "+81120100001",
            "national": "0120-100-001",
            "international": "+81 120-100-001",
        },
        {
            "target": "+12125550100",
            "number": "+12125550101",
            "national": "(212) 555-0101",
            "international": "+1 212-555-0101",
        },
    ]
]
TARGET_FORMS = [
    "03-1234-5678",
    "03(1234)5678",
    "(03) 1234-5678",
    "+81 3-1234-5678",
    "０３－１２３４－５６７８",
    "0120-123-456",
    "(212) 555-0100",
    "212.555.0100",
]
OTHER = [
    "03-1234-5679",
    "2024-03-12",
    "〒100-0005",
    "注文番号 0312345678901",
    "¥3,120",
    "(212) 555-0199",
    "営業時間 9:00〜18:00",
]
WORDS = "ご予約 お問い合わせ 診療時間 clinic appointment dental care 受付 地図 アクセス".split()


def build_page(elements: int, seed: int = 7) -> tuple[str, int]:
    """HTML for about ``elements`` elements, and how many target numbers it holds."""
    rnd = random.Random(seed)
    parts: list[str] = []
    count = 0
    targets = 0
    every = max(1, elements // 150)
    while count < elements:
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 9)))
        kind = count % 5
        if count % every == 0:
            targets += 1
            number = TARGET_FORMS[targets % len(TARGET_FORMS)]
            if kind == 0:
                parts.append(f'<a href="tel:+81312345678" title="{number}">{number}</a>')
            else:
                parts.append(f"<p>{words} <b>{number}</b></p>")
            count += 2 if kind else 1
        elif kind == 0:
            parts.append(f'<div class="c"><span>{words}</span> <i>{rnd.choice(OTHER)}</i></div>')
            count += 3
        elif kind == 1:
            parts.append(f'<a href="/page/{count}" aria-label="{words}">{words}</a>')
            count += 1
        else:
            parts.append(f"<li>{words} {rnd.choice(OTHER)}</li>")
            count += 1
    return "\n".join(parts), targets


PAGE = """<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>bench</title>
<link rel="icon" href="data:,"></head><body><main id="root"></main>
<script>window.BENCH_HTML = %s; document.getElementById('root').innerHTML = BENCH_HTML;</script>
<script async src="/dni.js" data-site="bench"></script></body></html>"""

MEASURE = """async ({rounds, forms}) => {
  const root = document.getElementById('root');
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const time = fn => { const t = performance.now(); fn(); return performance.now() - t; };
  const bare = () => {
    const w = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
    let n, total = 0;
    while ((n = w.nextNode())) total += n.nodeValue.length;
    return total;
  };
  const out = {baseline: [], snippet: [], rescan: [], elements: 0, left: 0};
  for (let i = 0; i < rounds; i++) {
    root.innerHTML = BENCH_HTML;       // fresh nodes, original numbers
    await frame();                     // let the snippet's own observer settle first
    root.innerHTML = BENCH_HTML;
    out.baseline.push(time(bare));
    out.snippet.push(time(() => callpath('swap')));
    out.rescan.push(time(() => callpath('swap')));
    await frame();
  }
  out.elements = root.getElementsByTagName('*').length;
  out.left = [...root.querySelectorAll('b, a')].filter(e => forms.includes(e.textContent)).length;
  return out;
}"""


def run(rounds: int, elements: int) -> dict[str, Any]:
    """Measure in Chromium; returns the medians (ms) and counts."""
    from playwright.sync_api import sync_playwright

    html, targets = build_page(elements)
    page_html = PAGE % json.dumps(html)
    snippet = BUILT.read_bytes()
    answer = json.dumps({"token": "bench", "swaps": SWAPS, "ttl": 1800, "heartbeat": 600})

    def serve(route: Any) -> None:
        url = route.request.url
        if url.endswith("/dni.js"):
            route.fulfill(body=snippet, content_type="application/javascript")
        elif url.endswith("/v1/session"):
            route.fulfill(body=answer, content_type="application/json")
        elif url.endswith("/v1/heartbeat"):
            route.fulfill(body='{"ttl": 1800}', content_type="application/json")
        else:
            route.fulfill(body=page_html, content_type="text/html; charset=utf-8")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context()
            ctx.add_init_script(
                "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false});"
            )
            page = ctx.new_page()
            page.route(ORIGIN + "/**", serve)
            page.goto(ORIGIN + "/page.html")
            page.wait_for_function(
                "document.title && document.querySelector('b') &&"
                " /050/.test(document.body.textContent)"
            )
            raw = page.evaluate(MEASURE, {"rounds": rounds, "forms": TARGET_FORMS})
        finally:
            browser.close()
    return {
        "baseline": statistics.median(raw["baseline"]),
        "snippet": statistics.median(raw["snippet"]),
        "rescan": statistics.median(raw["rescan"]),
        "elements": raw["elements"],
        "targets": targets,
        "left": raw["left"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.snippet", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--elements", type=int, default=10_000)
    args = parser.parse_args(argv)

    body = BUILT.read_bytes()
    print(f"dni.min.js: {len(body)} bytes, {len(gzip.compress(body, 9))} gzipped (budget 3000)")
    r = run(args.rounds, args.elements)
    print(
        f"page: {r['elements']} elements, {r['targets']} target numbers"
        f" ({r['left']} left unswapped), median of {args.rounds} rounds"
    )
    base = r["baseline"]
    print(f"  baseline  bare TreeWalker pass      {base:7.2f} ms   1.00x")
    for key, label in (("snippet", "scan and swap"), ("rescan", "rescan, nothing to swap")):
        print(f"  {key:<9} {label:<25} {r[key]:7.2f} ms  {r[key] / base:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
