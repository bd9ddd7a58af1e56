"""``python -m bench`` (``make bench``): every benchmark of the project in one run.

Discovers the modules ``bench/<name>.py`` (names starting with ``_`` are helpers) that define
a top-level ``main()`` or ``run()``, runs each in a child process of its own with its
default arguments (``main()`` preferred; a coroutine is awaited), and collects what each
printed. Every module measures its own baseline in the same run and prints its ratios; this
runner adds nothing to the numbers. The outputs are written to ``docs/benchmarks.md``
between two marker lines (the rest of the file, with each area's own notes, is kept).

    python -m bench [NAME ...] [--list] [--timeout SECONDS] [--no-write]
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- make bench: start (written by python -m bench; edits here are replaced) -->"
END = "<!-- make bench: end -->"

# Run in the child: call main() (else run()), await a coroutine, exit with an int result.
_CHILD = """
import asyncio, importlib, inspect, sys
module = importlib.import_module("bench." + sys.argv[1])
sys.argv = ["python -m bench." + sys.argv[1]]
entry = getattr(module, "main", None) or module.run
result = entry()
if inspect.isawaitable(result):
    result = asyncio.run(result)
sys.exit(result if isinstance(result, int) else 0)
"""


def discover() -> list[str]:
    """Names of the benchmark modules, found without importing them."""
    names = []
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        entries = {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if entries & {"main", "run"}:
            names.append(path.stem)
    return names


@dataclass
class Outcome:
    """One benchmark's run."""

    name: str
    returncode: int
    seconds: float
    stdout: str
    stderr: str

    @property
    def status(self) -> str:
        if self.returncode == 0:
            return "ok"
        if self.returncode == -9:
            return "timed out"
        return f"exit {self.returncode}"


def run_one(name: str, timeout: float) -> Outcome:
    """Run one benchmark module in a child process of its own and keep what it printed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Outcome(name, -9, time.perf_counter() - began, out, err)
    return Outcome(name, proc.returncode, time.perf_counter() - began, out, err)


def render(outcomes: list[Outcome]) -> str:
    """The generated block of docs/benchmarks.md."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        START,
        "## Latest `make bench` run",
        "",
        f"{when}; {platform.python_implementation()} {platform.python_version()},"
        f" {os.cpu_count()} CPUs (shared: read ratios, not absolute numbers).",
        "",
        "| benchmark | result | seconds |",
        "|---|---|---:|",
    ]
    lines += [f"| `bench.{o.name}` | {o.status} | {o.seconds:.0f} |" for o in outcomes]
    for o in outcomes:
        lines += ["", f"### `python -m bench.{o.name}`", ""]
        body = o.stdout.strip() or "(printed nothing)"
        if "\n|" in "\n" + body and "```" not in body:
            lines.append(body)  # markdown tables render as tables
        else:
            lines += ["```text", body, "```"]
        if o.returncode != 0 and o.stderr.strip():
            tail = "\n".join(o.stderr.strip().splitlines()[-15:])
            lines += ["", "stderr (last lines):", "", "```text", tail, "```"]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_doc(block: str, doc: Path = DOC) -> None:
    """Put the generated block into the doc, replacing the previous one, keeping the rest."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per benchmark")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md")
    args = parser.parse_args(argv)
    found = discover()
    if args.list:
        print("\n".join(found))
        return 0
    unknown = sorted(set(args.names) - set(found))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (have: {', '.join(found)})")
    chosen = [n for n in found if not args.names or n in args.names]
    outcomes = []
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        outcome = run_one(name, args.timeout)
        print(outcome.stdout.rstrip() or "(printed nothing)")
        if outcome.returncode != 0:
            print(outcome.stderr.rstrip()[-3000:], file=sys.stderr)
        print(f"== bench.{name}: {outcome.status} in {outcome.seconds:.0f} s\n", flush=True)
        outcomes.append(outcome)
    if not args.no_write and outcomes:
        write_doc(render(outcomes))
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
