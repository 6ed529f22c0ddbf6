"""What every benchmark starts with: a recording Teams connector, a work folder, processes."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestServer

from tests.helpers import Recorder
from tests.replicas import Processes


@asynccontextmanager
async def bench_setup() -> AsyncIterator[tuple[Recorder, Processes, Path]]:
    """A local connector that records what the bot sends, and a process runner whose
    processes are all stopped on exit."""
    recorder = Recorder()
    server = TestServer(recorder.app(), host="127.0.0.1")
    await server.start_server()
    recorder.url = str(server.make_url("/")).rstrip("/") + "/"
    workdir = Path(tempfile.mkdtemp(prefix="bw-bench-"))
    procs = Processes(workdir)
    try:
        yield recorder, procs, workdir
    finally:
        procs.stop_all()
        await server.close()
