"""A quiet Bot Connector for benchmarks, in its own process: answers every call like Teams,
counts requests and TCP connections, and optionally enforces Teams' rate limits (7 messages a
second per conversation, 50 requests a second per bot: 429 with Retry-After beyond them).

    python -m bench.connector --port 4000 [--teams-limits]

GET /_stats answers {"requests", "connections", "throttled", "messages": {conversation: n}};
POST /_stats/reset clears them.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import re
import time
from typing import Any

from aiohttp import web

PER_CONVERSATION = (7, 1.0)
PER_BOT = (50, 1.0)
_ids = itertools.count(1)
_CONVERSATION = re.compile(r"/v3/conversations/([^/]+)")


class Stats:
    def __init__(self, limits: bool) -> None:
        self.limits = limits
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.throttled = 0
        self.peers: set[Any] = set()
        self.messages: collections.Counter[str] = collections.Counter()
        self.bot_window: collections.deque[float] = collections.deque()
        self.windows: dict[str, collections.deque[float]] = {}

    def over(self, conversation: str | None) -> bool:
        now = time.monotonic()
        checks = [(self.bot_window, PER_BOT)]
        if conversation:
            checks.append(
                (self.windows.setdefault(conversation, collections.deque()), PER_CONVERSATION)
            )
        for window, (calls, seconds) in checks:
            while window and now - window[0] >= seconds:
                window.popleft()
            if len(window) >= calls:
                return True
        for window, _ in checks:
            window.append(now)
        return False


def build(limits: bool) -> web.Application:
    stats = Stats(limits)

    async def record(request: web.Request) -> web.Response:
        await request.read()
        stats.requests += 1
        stats.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        match = _CONVERSATION.match(request.path)
        conversation = match[1] if match else None
        if stats.limits and stats.over(conversation):
            stats.throttled += 1
            return web.json_response(
                {"error": {"code": "TooManyRequests", "message": "slow down"}},
                status=429,
                headers={"Retry-After": "1"},
            )
        if conversation and request.method == "POST":
            stats.messages[conversation] += 1
        if request.method == "POST" and request.path == "/v3/conversations":
            return web.json_response(
                {"id": f"conv-{next(_ids)}", "activityId": f"act-{next(_ids)}"}
            )
        return web.json_response({"id": f"act-{next(_ids)}"})

    async def read_stats(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": stats.requests,
                "connections": len(stats.peers),
                "throttled": stats.throttled,
                "messages": dict(stats.messages),
            }
        )

    async def reset(_: web.Request) -> web.Response:
        stats.reset()
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/_stats", read_stats)
    app.router.add_post("/_stats/reset", reset)
    app.router.add_route("*", "/{tail:.*}", record)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--teams-limits", action="store_true")
    args = parser.parse_args()
    web.run_app(build(args.teams_limits), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
