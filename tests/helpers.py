"""Test helpers: a Bot Connector recorder, activity builders and card walkers."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

BOT_ID = "28:blockwatch-bot"
TENANT = "5f1b6a8e-3c2d-4e7f-9a10-2b3c4d5e6f70"
_ids = itertools.count(1)
ROOT = Path(__file__).resolve().parents[1]
# The CARD_BUDGET_BYTES default: no message BlockWatch sends or answers with is larger.
CARD_BUDGET = 38_000


class FakeClock:
    """A monotonic clock the test moves by hand (`clock.now += 30`)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run_app(
    cwd: Path, env: dict[str, str], *args: str, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python app.py [args]` with only `env` (and PATH) in its environment."""
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def stop_processes(procs: Iterable[subprocess.Popen[Any]], *, grace: float) -> None:
    """SIGTERM every process still running, wait up to `grace` s each, then kill."""
    running = list(procs)
    for proc in running:
        if proc.poll() is None:
            proc.terminate()
    for proc in running:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass
class Sent:
    """One call the bot made to the connector (and the message id answered, if any)."""

    method: str
    path: str
    body: dict[str, Any]
    size_utf16: int
    answered: str = ""
    at: float = field(default_factory=time.monotonic)
    peer: Any = None  # the bot's end of the TCP connection the call came on


Refusal = tuple[int, dict[str, str], str]  # status, headers, error code


@dataclass
class Recorder:
    """A local Bot Connector: records what the bot sends and answers like Teams."""

    calls: list[Sent] = field(default_factory=list)
    url: str = ""
    failures: list[Refusal] = field(default_factory=list)
    # Refuse every call a rule picks (e.g. only the private message with the password).
    rules: list[Callable[[Sent], Refusal | None]] = field(default_factory=list)

    def app(self) -> web.Application:
        """The recorder's aiohttp app."""

        async def record(request: web.Request) -> web.Response:
            raw = await request.text()
            body = json.loads(raw) if raw else {}
            size = len(raw.encode("utf-16-le"))
            sent = Sent(request.method, request.path, body, size)
            sent.peer = request.transport.get_extra_info("peername") if request.transport else None
            self.calls.append(sent)
            refusal = next((r for rule in self.rules if (r := rule(sent)) is not None), None)
            if refusal is None and self.failures:
                refusal = self.failures.pop(0)
            if refusal is not None:
                status, headers, code = refusal
                error = {"error": {"code": code, "message": code}}
                return web.json_response(error, status=status, headers=headers)
            sent.answered = f"act-{next(_ids)}"
            return web.json_response({"id": sent.answered})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        return app

    def shown_in(self, conversation_id: str, message_id: str) -> dict[str, Any] | None:
        """The card message `message_id` of that conversation shows now (its last version)."""
        shown = self.history_of(conversation_id, message_id)
        return shown[-1] if shown else None

    def history_of(self, conversation_id: str, message_id: str) -> list[dict[str, Any]]:
        """Every card message `message_id` of that conversation showed, in order."""
        shown = []
        for call in self.calls:
            posted = call.method == "POST" and call.answered == message_id
            updated = call.method == "PUT" and call.path.endswith(f"/activities/{message_id}")
            if conversation_id in call.path and (posted or updated):
                shown.extend(a["content"] for a in call.body.get("attachments") or [])
        return shown

    def cards(self) -> list[dict[str, Any]]:
        """Every Adaptive Card the bot sent or updated, in order."""
        found = []
        for call in self.calls:
            for attachment in call.body.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    found.append(attachment["content"])
        return found


def activity(
    text: str,
    *,
    service_url: str,
    scope: str = "personal",
    locale: str = "en-US",
    user: str = "29:admin-1",
    aad: str = "00000000-0000-0000-0000-0000000000a1",
    value: Any = None,
    reply_to: str | None = None,
    timezone: str | None = None,
    tenant: str = TENANT,
) -> dict[str, Any]:
    """A Teams message activity as the channel sends it, in a personal, group or channel scope."""
    conversation: dict[str, Any] = {"id": f"a:{scope}-conv", "tenantId": tenant}
    channel_data: dict[str, Any] = {"tenant": {"id": tenant}}
    entities: list[dict[str, Any]] = []
    if scope == "groupChat":
        conversation.update(id="19:group@thread.v2", conversationType="groupChat", isGroup=True)
    elif scope == "channel":
        conversation.update(
            id="19:general@thread.tacv2;messageid=1700000000000",
            conversationType="channel",
            isGroup=True,
        )
        channel_data.update(
            team={"id": "19:team@thread.tacv2"}, channel={"id": "19:general@thread.tacv2"}
        )
    else:
        conversation["conversationType"] = "personal"
    if scope != "personal":
        text = f"<at>BlockWatch</at> {text}"
        entities.append(
            {
                "type": "mention",
                "text": "<at>BlockWatch</at>",
                "mentioned": {"id": BOT_ID, "name": "BlockWatch"},
            }
        )
    if timezone:
        entities.append({"type": "clientInfo", "locale": locale, "timezone": timezone})
    body: dict[str, Any] = {
        "type": "message",
        "id": str(uuid.uuid4()),
        "timestamp": "2026-11-26T12:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": user, "name": "Alex Wilber", "aadObjectId": aad},
        "conversation": conversation,
        "recipient": {"id": BOT_ID, "name": "BlockWatch"},
        "text": text,
        "textFormat": "plain",
        "locale": locale,
        "entities": entities,
        "channelData": channel_data,
    }
    if value is not None:
        body["value"] = value
    if reply_to:
        body["replyToId"] = reply_to
    return body


def invoke(
    verb: str,
    data: dict[str, Any],
    *,
    service_url: str,
    locale: str = "en-US",
    reply_to: str = "act-1",
    tenant: str = TENANT,
    trigger: str = "manual",
) -> dict[str, Any]:
    """An `adaptiveCard/action` invoke, as Teams sends for an Action.Execute click (trigger
    manual) or for a card's `refresh` when a user views it (trigger automatic)."""
    body = activity("", service_url=service_url, locale=locale, reply_to=reply_to, tenant=tenant)
    body.update(
        type="invoke",
        name="adaptiveCard/action",
        value={
            "action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": trigger,
        },
    )
    body.pop("text")
    return body


def texts_of(card: Any) -> list[str]:
    """Every text in a card (a RichTextBlock's runs joined, a TextBlock, a fact), in document
    order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "RichTextBlock":
                found.append("".join(run["text"] for run in node["inlines"]))
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            if node.get("type") == "FactSet":
                found.extend(f"{f['title']}: {f['value']}" for f in node["facts"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def nodes_of(card: Any) -> list[dict[str, Any]]:
    """Every element of a card (actions, inputs, nested cards), in document order."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def actions_of(card: Any, *, any_kind: bool = False) -> list[dict[str, Any]]:
    """Every Action.Execute in a card (with any_kind: every action, ShowCards included)."""
    return [
        node
        for node in nodes_of(card)
        if (kind := str(node.get("type", ""))) == "Action.Execute"
        or (any_kind and kind.startswith("Action."))
    ]


def serve_demo(cwd: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """`python app.py` in demo mode in `cwd` with `env`, once it is ready: (process, URL)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    settings = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": str(port),
        "APPROVER_IDS": "00000000-0000-0000-0000-0000000000a1",
        "DEMO_RESTRICT_AFTER_SECONDS": "0",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=cwd,
        env=settings,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("the demo did not start")
