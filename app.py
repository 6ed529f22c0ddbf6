"""BlockWatch composition root and command line: `python app.py [serve|doctor|migrate]`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from bot.compose import build_app, check_tenant, export_audit, migrate_database
from bot.logs import configure_logging
from bot.settings import ConfigError, Settings, load_settings


def banner(settings: Settings) -> str:
    """What an admin sees first: where we listen and whether this is the demo."""
    url = f"http://{settings.bind_host}:{settings.port}/api/messages"
    if settings.demo:
        state = (
            "keeping the previous run's cases (DEMO_KEEP_STATE)"
            if settings.demo_keep_state
            else "starting from the scenario"
        )
        return (
            "BlockWatch DEMO MODE: simulated tenant (scenario "
            f"'{settings.demo_scenario}', {state}), inbound authentication OFF, "
            f"listening on {url} (loopback only). Nothing here touches a real tenant."
        )
    if not settings.inbound_auth:
        return (
            f"BlockWatch: tenant {settings.tenant_id}, INBOUND AUTHENTICATION OFF "
            f"(DANGEROUSLY_ALLOW_UNAUTHENTICATED, loopback only), {url}"
        )
    return f"BlockWatch: tenant {settings.tenant_id}, inbound authentication on, {url}"


def refuse(problems: list[str]) -> int:
    """Print one line per configuration problem; the exit code for "cannot start"."""
    print("BlockWatch cannot start; fix the configuration:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, read settings and run the chosen command."""
    parser = argparse.ArgumentParser(prog="app.py", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "doctor", "migrate", "export-audit"],
        help="serve (default): run the bot; doctor: check tenant permissions; "
        "migrate: bring the database schema to the current version and exit; "
        "export-audit: print the audit trail as CSV (before a retention purge)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help="export-audit: only the last N days (default: everything)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as err:
        return refuse(err.problems)
    configure_logging(settings.log_level)
    if args.command == "migrate":
        before, after = asyncio.run(migrate_database(settings))
        print(f"database schema: {before or 'empty'} -> {after}")
        return 0
    if args.command == "export-audit":
        sys.stdout.write(asyncio.run(export_audit(settings, args.days)))
        return 0
    if args.command == "doctor":
        report, ok = asyncio.run(check_tenant(settings))
        print(report)
        return 0 if ok else 1
    if args.command == "serve":
        if problems := settings.serve_problems():
            return refuse(problems)
        print(banner(settings), flush=True)
        web.run_app(
            build_app(settings),
            host=settings.bind_host,
            port=settings.port,
            print=None,
            access_log=None,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
