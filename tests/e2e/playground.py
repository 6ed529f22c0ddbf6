"""Runs the bot and Microsoft 365 Agents Playground (pinned 0.2.28) as real processes.

The Playground's HTTP/WebSocket API used here is internal and undocumented (observed in 0.2.28:
`/_internal/v1/config`, `/_conversation/v1/...`, the `/_ws_conversation/...` socket), which is
why the version is pinned.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from tests.helpers import stop_processes

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND = ROOT / ".tools" / "node_modules" / ".bin" / "agentsplayground"
LOOPBACK_PRELOAD = ROOT / "scripts" / "playground-loopback.cjs"  # as ./scripts/demo runs it


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


@dataclass
class Stack:
    """A running bot and Playground."""

    bot_url: str
    playground_url: str
    bot_log: Path


@contextmanager
def running_stack(workdir: Path, **bot_env: str) -> Iterator[Stack]:
    """Start the demo bot and a headless Playground pointed at it; stop both afterwards."""
    bot_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENANT_", "CLIENT_"))}
    env.update(PORT=str(bot_port), HOST="127.0.0.1", **bot_env)
    bot_log = workdir / "bot.log"
    with bot_log.open("w") as log:
        bot = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    pg_env = dict(
        os.environ,
        TEAMSAPPTESTER_BROWSER="none",
        M365_AGENTS_PLAYGROUND_LOGFILE=str(workdir / "playground.log"),
    )
    playground = subprocess.Popen(
        [
            "node",
            "--require",
            str(LOOPBACK_PRELOAD),
            str(PLAYGROUND),
            "-e",
            f"http://127.0.0.1:{bot_port}/api/messages",
            "-p",
            str(free_port()),
            "--disable-telemetry",
        ],
        cwd=workdir,
        env=pg_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        _wait_http(f"http://127.0.0.1:{bot_port}/healthz", deadline)
        port = _listening_port(playground, deadline)
        yield Stack(f"http://127.0.0.1:{bot_port}", f"http://127.0.0.1:{port}", bot_log)
    finally:
        stop_processes((playground, bot), grace=10)


def _listening_port(proc: subprocess.Popen[str], deadline: float) -> int:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if match := re.search(r"Listening on (\d+)", line):
            return int(match[1])
        if not line and proc.poll() is not None:
            raise RuntimeError(f"Agents Playground exited with {proc.returncode}")
    raise TimeoutError("Agents Playground did not start")


class PlaygroundClient:
    """Talks to the Playground as the Teams client would, and watches what the bot posts."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base = base_url
        self.session = session
        self.config: dict[str, Any] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        """Read the mock tenant and open the conversation stream."""
        async with self.session.get(f"{self.base}/_internal/v1/config") as response:
            self.config = (await response.json())["config"]
        ws_url = self.base.replace("http", "ws", 1) + "/_ws_conversation/v1/conversations/stream"
        self._ws = await self.session.ws_connect(ws_url)

    async def say(self, conversation_id: str, text: str, *, mention: bool = False) -> str:
        """Post a message as the current user; returns the conversation the post landed in."""
        body: dict[str, Any] = {"from": {"id": "user-id-0"}, "text": text, "textFormat": "plain"}
        if mention:
            bot = self.config["bot"]
            tag = f"<at>{bot['name']}</at>"
            body.update(
                text=f"{tag} {text}", mentions=[{"mentioned": {"id": bot["id"]}, "text": tag}]
            )
        url = f"{self.base}/_conversation/v1/conversations/{conversation_id}/messages"
        async with self.session.post(url, json=body) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        return str(answer.get("postConversationId") or conversation_id)

    async def click(
        self, conversation_id: str, message_id: str, verb: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Press an Action.Execute button; returns the invoke answer ({type, value})."""
        body = {
            "name": "adaptiveCard/action",
            "from": {"id": "user-id-0"},
            "conversation": {"id": conversation_id},
            "replyToId": message_id,
            "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data}},
        }
        async with self.session.post(f"{self.base}/_conversation/v1/invoke", json=body) as response:
            assert response.status == 200, await response.text()
            result: dict[str, Any] = await response.json()
            return result

    async def next_card(self, conversation_id: str, wait: float = 20) -> dict[str, Any]:
        """The next bot message carrying an Adaptive Card in that conversation."""
        assert self._ws is not None
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            msg = await asyncio.wait_for(self._ws.receive(), timeout=max(remaining, 0.1))
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(msg.data)
            message = event.get("message") or {}
            if (
                event.get("action") in ("createMessage", "updateMessage")
                and event.get("actionConversationId") == conversation_id
                and message.get("attachments")
            ):
                return dict(message)
