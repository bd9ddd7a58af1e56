"""``callpath demo``: seed a demo advertiser, site, numbers and login; print what to open."""

from __future__ import annotations

import argparse
from typing import Any

import orjson


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="seed demo data and print what to open")
    p.add_argument("--json", action="store_true", help="print the demo data as JSON")
    p.add_argument("--url", default="", help="address to print (default from settings)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from backend.demo import seed_demo

    info: dict[str, Any] = {}

    async def work(db: Any, settings: Any) -> None:
        info.update(await seed_demo(db, settings))
        info["url"] = args.url or settings.public_url or f"http://{settings.host}:{settings.port}"

    run_with_db(args, work)
    if args.json:
        print(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode())
        return 0
    url = info["url"].rstrip("/")
    print(f"callpath demo is ready.\n\n  Example pages:  {url}/examples/")
    print(
        f"  Dashboard:      {url}/dashboard  (login {info['login']['email']}"
        f" / {info['login']['password']})"
    )
    print(
        f'  Snippet tag:    <script async src="{url}/dni.js"'
        f' data-site="{info["site_key"]}"></script>'
    )
    for target in info["targets"]:
        print(
            f"  {target['label']}: {target['number']} -> " + ", ".join(target["tracking_numbers"])
        )
    print(f"  API token:      {info['api_token']}")
    return 0
