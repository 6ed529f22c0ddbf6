"""BlockWatch composition root and command line: `python app.py [serve|doctor|migrate]`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import NoReturn

from aiohttp import web

from bot.commands import check_tenant, export_audit, migrate_database
from bot.compose import build_app
from bot.demo import scenario_problems
from bot.logs import configure_logging
from bot.settings import ConfigError, Settings, load_settings


def listening_url(settings: Settings) -> str:
    """Where the bot listens, as a URL (an IPv6 address in brackets)."""
    host = settings.bind_host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/api/messages"


def banner(settings: Settings) -> str:
    """What an admin sees first: where we listen and whether this is the demo."""
    url = listening_url(settings)
    auth = "inbound authentication on" if settings.inbound_auth else "inbound authentication OFF"
    if settings.demo:
        state = (
            "keeping the previous run's cases (DEMO_KEEP_STATE)"
            if settings.demo_keep_state
            else "starting from the scenario"
        )
        where = "" if settings.inbound_auth else " (loopback only)"
        return (
            "BlockWatch DEMO MODE: simulated tenant (scenario "
            f"'{settings.demo_scenario}', {state}), {auth}, "
            f"listening on {url}{where}. Nothing here touches a real tenant."
        )
    login = settings.tenant_login
    assert login is not None
    tenant = f"tenant {login.tenant_id} as {login.describe()}"
    if not settings.inbound_auth:
        return (
            f"BlockWatch: {tenant}, INBOUND AUTHENTICATION OFF "
            f"(DANGEROUSLY_ALLOW_UNAUTHENTICATED, loopback only), {url}"
        )
    return f"BlockWatch: {tenant}, {auth}, {url}"


def refuse(problems: list[str]) -> int:
    """Print one line per configuration problem; the exit code for "cannot start"."""
    print("BlockWatch cannot start; fix the configuration:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


class CommandLine(argparse.ArgumentParser):
    """argparse, but a mistake is one line (and exit code 2), like a configuration problem."""

    def error(self, message: str) -> NoReturn:
        """Print the mistake on one line and exit 2."""
        self.exit(2, f"{self.prog}: {message} (see: python app.py --help)\n")


def positive_days(text: str) -> int:
    """`--days`: a whole number of days, at least 1."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--days takes a whole number, got {text!r}") from None
    if days < 1:
        raise argparse.ArgumentTypeError(
            f"--days must be 1 or more (leave it out to export everything), got {days}"
        )
    return days


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, read settings and run the chosen command."""
    parser = CommandLine(prog="app.py", description=__doc__)
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
        type=positive_days,
        default=None,
        help="export-audit: only the last N days (default: everything)",
    )
    args = parser.parse_args(argv)
    if args.days is not None and args.command != "export-audit":
        parser.error("--days only applies to export-audit")
    try:
        settings = load_settings()
    except ConfigError as err:
        return refuse(err.problems)
    if args.command in ("serve", "doctor") and (problems := scenario_problems(settings)):
        return refuse(problems)
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
