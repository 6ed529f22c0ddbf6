"""Several real bot processes sharing one PostgreSQL database and one simulated tenant."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import open_engine
from tests.e2e.playground import free_port
from tests.helpers import Recorder, actions_of, activity, invoke, stop_processes, texts_of

ROOT = Path(__file__).resolve().parents[1]
ADMIN = ("29:alex", "00000000-0000-0000-0000-0000000000a1")
ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def create_database() -> str:
    """A fresh PostgreSQL database; fails under CI, skips elsewhere, if PostgreSQL is absent."""
    name = f"bw_{uuid.uuid4().hex[:12]}"
    admin = open_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except (OSError, SQLAlchemyError) as err:
        if os.environ.get("CI"):
            raise RuntimeError(f"CI needs PostgreSQL at 127.0.0.1:5432: {err}") from err
        pytest.skip(f"PostgreSQL not reachable: {type(err).__name__}")
    finally:
        await admin.dispose()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_database(url: str) -> None:
    """Drop a database made by create_database."""
    name = url.rsplit("/", 1)[1]
    admin = open_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@dataclass
class Processes:
    """The simulated tenant and bot processes of one test; all stopped at the end."""

    workdir: Path
    tenant: dict[str, str] = field(default_factory=dict)
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_tenant(self, scenario: str = "compromised") -> dict[str, str]:
        """Run `python -m bot.sim --tls` and read the settings it prints."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.sim", "--scenario", scenario, "--tls"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        self.running.append(proc)
        assert proc.stdout is not None
        self.tenant = json.loads(proc.stdout.readline())
        return self.tenant

    def start_bot(
        self, database: str, name: str, **extra: str
    ) -> tuple[str, subprocess.Popen[bytes]]:
        """Start `python app.py` against the shared tenant and database; (URL, process)."""
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE",)}
        env.update({k: v for k, v in self.tenant.items() if not k.startswith("SIM_")})
        env.setdefault("APPROVER_IDS", "00000000-0000-0000-0000-0000000000a1")
        env.update(
            DATABASE_URL=database,
            HOST="127.0.0.1",
            DANGEROUSLY_ALLOW_UNAUTHENTICATED="true",  # a real tenant (the simulator), no Teams
            PORT=str(port),
            RUNNER_LEASE_SECONDS="1",
            FOLLOW_UP_SECONDS="0.2",
            SHUTDOWN_GRACE_SECONDS="1",
            **extra,
        )
        with (self.workdir / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py")],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {(self.workdir / f'{name}.log').read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return url, proc
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} did not become ready")

    def tenant_client(self) -> httpx.AsyncClient:
        """An HTTP client trusting the simulated tenant's CA."""
        return httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=self.tenant["SSL_CERT_FILE"])
        )

    def stop_all(self) -> None:
        """Terminate everything still running."""
        stop_processes(self.running, grace=15)


async def press(
    url: str,
    verb: str,
    data: dict[str, Any],
    recorder_url: str,
    *,
    user: tuple[str, str] = ("29:alex", "00000000-0000-0000-0000-0000000000a1"),
) -> dict[str, Any]:
    """Press a card button on the bot at `url`; returns the invoke answer's card."""
    # Clicked on a message that is not one of the copies a test watches: the invoke's answer
    # replaces the clicked card directly, so the connector never sees that copy's update.
    body = invoke(verb, data, service_url=recorder_url, reply_to="clicked-card")
    names = {ADMIN[1]: "Alex"}
    body["from"] = {"id": user[0], "name": names.get(user[1], "Megan"), "aadObjectId": user[1]}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/api/messages", json=body)
    assert response.status_code == 200, response.text
    card: dict[str, Any] = response.json()["value"]
    return card


async def wait_for(check: Any, seconds: float = 20) -> Any:
    """Poll the async `check` until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise TimeoutError("condition not met in time")


class Copies:
    """The messages that show one case, as the recorder saw them."""

    def __init__(self, recorder: Recorder, messages: list[tuple[str, str]]) -> None:
        self.recorder = recorder
        self.messages = messages

    def cards(self) -> list[dict[str, Any]]:
        found = [self.recorder.shown_in(c, m) for c, m in self.messages]
        return [card for card in found if card is not None]

    async def all_show(self, wanted: str, seconds: float = 30) -> list[dict[str, Any]]:
        """Wait until every copy has a text line containing `wanted`; the cards."""

        async def check() -> list[dict[str, Any]] | None:
            cards = self.cards()
            shows = [any(wanted in line for line in texts_of(c)) for c in cards]
            return cards if len(cards) == len(self.messages) and all(shows) else None

        try:
            found: list[dict[str, Any]] = await wait_for(check, seconds)
        except TimeoutError:
            raise AssertionError(f"not every copy shows {wanted!r}: {self._last_lines()}") from None
        return found

    def all_showed(self, wanted: str) -> bool:
        """Whether every copy showed `wanted` at some point."""
        return all(
            any(
                wanted in line for card in self.recorder.history_of(c, m) for line in texts_of(card)
            )
            for c, m in self.messages
        )

    def _last_lines(self) -> list[list[str]]:
        return [texts_of(c)[:3] + [t for t in texts_of(c) if "—" in t][:8] for c in self.cards()]


async def say(bot: str, recorder: Recorder, text: str, scope: str) -> tuple[str, str]:
    """Type `text` as Alex in `scope`; (conversation id, id of the bot's reply)."""
    before = len(recorder.calls)
    body = activity(text, service_url=recorder.url, scope=scope, aad=ADMIN[1], user=ADMIN[0])
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(f"{bot}/api/messages", json=body)).status_code == 201
    reply = next(c for c in recorder.calls[before:] if c.method == "POST" and c.answered)
    return str(body["conversation"]["id"]), reply.answered


async def copies_of(bot: str, recorder: Recorder, upn: str) -> Copies:
    messages = [await say(bot, recorder, f"status {upn}", s) for s in ("personal", "channel")]
    return Copies(recorder, messages)


async def current(bot: str, recorder: Recorder, card: dict[str, Any]) -> dict[str, Any]:
    """The case card as it is now (Refresh), to click on."""
    refresh = data_of(card, "refresh_case")
    return await press(bot, "refresh_case", refresh, recorder.url)


def data_of(card: dict[str, Any], verb: str, step: str | None = None) -> dict[str, Any]:
    for action in actions_of(card):
        if action["verb"] == verb and (step is None or action["data"].get("step") == step):
            data: dict[str, Any] = action["data"]
            return data
    raise AssertionError(f"no {verb} {step or ''} in {texts_of(card)}")


async def sim_control(processes: Processes, path: str, body: dict[str, Any] | None = None) -> None:
    async with processes.tenant_client() as client:
        url = f"{processes.tenant['SIM_URL']}{path}"
        response = await (client.post(url, json=body) if body else client.delete(url))
        assert response.status_code == 200, response.text
