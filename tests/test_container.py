"""The container image, checked without a container engine (none runs where CI does): the
Dockerfile is linted by hadolint, and its steps are repeated here as written — a clean venv
filled from requirements.lock with hashes required, the files its COPY lines name, its HEALTHCHECK
command, a non-root user, and SIGTERM ending the process cleanly."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.replicas import free_port

DOCKERFILE = ROOT / "Dockerfile"
NOBODY = 65534


def _instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) per Dockerfile line, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


def test_the_dockerfile_is_clean_for_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_installs_only_from_the_lock_in_stages_as_a_non_root_user() -> None:
    steps = _instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2, "multi-stage: the build tools stay out of the runtime image"
    installs = [args for word, args in steps if word == "RUN" and "pip install" in args]
    assert installs, "the dependencies are installed by pip"
    for command in installs:
        assert "--require-hashes" in command
        assert "-r /tmp/requirements.lock" in command
    assert ("COPY", "requirements.lock /tmp/requirements.lock") in steps
    user = [args for word, args in steps if word == "USER"]
    assert user
    assert user[-1] not in ("root", "0")
    assert any(word == "HEALTHCHECK" for word, _ in steps)
    assert ("STOPSIGNAL", "SIGTERM") in steps
    assert any(word == "CMD" and args.startswith("[") for word, args in steps)  # exec form


@pytest.fixture(scope="module")
def image() -> Iterator[Path]:
    """A directory laid out like the image: /opt/blockwatch (the venv) and /app."""
    root = Path(tempfile.mkdtemp(prefix="blockwatch-image-"))
    root.chmod(0o755)
    venv = root / "opt" / "blockwatch"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    steps = _instructions()
    install = next(args for word, args in steps if word == "RUN" and "pip install" in args)
    pip = install[install.index("/opt/blockwatch/bin/python") :]
    in_image = "/tmp/requirements.lock"  # noqa: S108 - the path inside the image
    argv = shlex.split(pip.replace(in_image, str(ROOT / "requirements.lock")))
    argv[0] = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_NO_CACHE")}
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    app = root / "app"
    app.mkdir()
    for word, args in steps:
        if word == "COPY" and not args.startswith("--"):
            source, _ = args.split(" ")
            if source.startswith("requirements"):
                continue
            target = app / source
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(ROOT / source, target)
    (app / "data").mkdir()
    os.chown(app / "data", NOBODY if os.geteuid() == 0 else os.geteuid(), -1)
    for path in root.rglob("*"):  # world-readable, as COPY leaves files for USER 10001
        path.chmod(path.stat().st_mode | 0o044 | (0o011 if path.is_dir() else 0))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _as_user() -> list[str]:
    """Drop root like `USER` does (a developer who is not root runs as themselves)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def test_the_image_starts_as_a_non_root_user_answers_its_healthcheck_and_stops_on_sigterm(
    image: Path,
) -> None:
    steps = _instructions()
    port = free_port()
    python = str(image / "opt" / "blockwatch" / "bin" / "python")
    env = {
        "PATH": f"{image / 'opt' / 'blockwatch' / 'bin'}:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(image / "app"),
        "DATA_DIR": str(image / "app" / "data"),
        "HOST": "127.0.0.1",  # no bot identity here: the demo, on loopback
        "PORT": str(port),
        "DEMO_RESTRICT_AFTER_SECONDS": "0",
        "SHUTDOWN_GRACE_SECONDS": "2",
    }
    cmd = json.loads(next(args for word, args in steps if word == "CMD"))
    assert cmd[0] == "python"
    log = image / "app" / "data" / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_as_user(), python, *cmd[1:]],
            cwd=image / "app",
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        check = next(args for word, args in steps if word == "HEALTHCHECK")
        probe = json.loads(check[check.index("CMD ") + 4 :])
        deadline = time.monotonic() + 60
        while True:
            answer = subprocess.run(
                [*_as_user(), python, *probe[1:]], env=env, capture_output=True, check=False
            )
            if answer.returncode == 0:
                break
            assert proc.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, answer.stderr
            time.sleep(0.3)
        status = Path(f"/proc/{proc.pid}/status").read_text(encoding="utf-8")
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert int(uid) != 0 or os.geteuid() != 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text(encoding="utf-8")
    assert "BlockWatch DEMO MODE" in output
    assert "Traceback" not in output
