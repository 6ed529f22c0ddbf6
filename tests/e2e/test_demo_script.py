"""`./scripts/demo` as the README runs it: the Agents Playground it starts listens on loopback
only (it has no host option; scripts/playground-loopback.cjs pins it), starts on a machine
without a browser opener, and its URL is printed only once it answers."""

from __future__ import annotations

import ipaddress
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.playground import PLAYGROUND, free_port
from tests.helpers import ROOT
from tests.replicas import Processes

pytestmark = pytest.mark.e2e

if not PLAYGROUND.exists() or shutil.which("node") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the Agents Playground tests: run ./scripts/node-tools")
    pytest.skip("Agents Playground not installed", allow_module_level=True)

URL_LINE = "Microsoft 365 Agents Playground: http://localhost:"


def _lines_until(proc: subprocess.Popen[str], marker: str, seconds: float) -> list[str]:
    """Read the script's output until a line contains `marker`."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if not ready:
            continue
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line.rstrip())
        if marker in line:
            return seen
    raise AssertionError(f"no {marker!r} in {seen}")


def _children(pid: int) -> list[int]:
    """Every process below `pid`."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found + [p for c in found for p in _children(c)]


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_address)
    # /proc/net/tcp* print each 32-bit word in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def _listening(pids: list[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket these processes listen on."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found: list[tuple[str, int]] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            parts = row.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.append((str(_address(address)), int(port, 16)))
    return found


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _path_without(path: str, hidden: set[str], mirror: Path) -> str:
    """`path` with the programs in `hidden` gone: a folder that holds one (such as /usr/bin,
    where Debian's Chromium brings xdg-open) is replaced by a mirror of its other entries."""
    folders = []
    for number, folder in enumerate(Path(p) for p in path.split(os.pathsep) if p):
        if not any((folder / name).exists() for name in hidden):
            folders.append(str(folder))
            continue
        copy = mirror / str(number)
        copy.mkdir(parents=True)
        for entry in folder.iterdir():
            if entry.name not in hidden:
                (copy / entry.name).symlink_to(entry)
        folders.append(str(copy))
    return os.pathsep.join(folders)


@contextmanager
def _demo(tmp_path: Path, **settings: str) -> Iterator[subprocess.Popen[str]]:
    """`./scripts/demo` on a machine without a browser opener; stopped (all of it) afterwards."""
    env = dict(os.environ, PORT=str(free_port()), DATA_DIR=str(tmp_path), **settings)
    env.pop("TEAMSAPPTESTER_BROWSER", None)
    env["PATH"] = _path_without(env["PATH"], {"xdg-open", "open"}, tmp_path / "path")
    with subprocess.Popen(
        [str(ROOT / "scripts" / "demo")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_the_demo_playground_listens_on_loopback_only(tmp_path: Path) -> None:
    with _demo(tmp_path) as proc:
        lines = _lines_until(proc, URL_LINE, 300)
        port = int(lines[-1].split(URL_LINE)[1])
        # printed only once it answers
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        playground = [
            pid
            for pid in _children(proc.pid)
            if b"agentsplayground" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert playground, "the Playground is not running"
        listening = _listening(playground)
        assert ("127.0.0.1", port) in listening
        assert all(_loopback(address) for address, _ in listening), listening
        _lines_until(proc, "BlockWatch DEMO MODE", 60)


def test_the_readmes_local_trial_of_a_real_tenant_starts(tmp_path: Path) -> None:
    # README "Connecting a real tenant", step 4, with the simulated tenant standing in
    processes = Processes(tmp_path)
    try:
        tenant = processes.start_tenant("contoso")
        settings = {k: v for k, v in tenant.items() if not k.startswith("SIM_")}
        trial = {"HOST": "127.0.0.1", "DANGEROUSLY_ALLOW_UNAUTHENTICATED": "true"}
        with _demo(tmp_path, **settings, **trial) as proc:
            _lines_until(proc, URL_LINE, 300)
            banner = _lines_until(proc, "BlockWatch: tenant", 60)[-1]
            assert banner.startswith(
                f"BlockWatch: tenant {tenant['BLOCKWATCH_TENANT_ID']} as app "
                f"{tenant['BLOCKWATCH_CLIENT_ID']} with a client secret, INBOUND AUTH"
            )
    finally:
        processes.stop_all()
