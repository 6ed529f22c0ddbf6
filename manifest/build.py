"""Build the Teams app package: `python manifest/build.py --bot-id <MicrosoftAppId>`.

Fills the bot id, the Teams app id and the version into manifest.json and zips it with the two
icons and the Dutch language file (nl.json) into manifest/build/blockwatch.zip, ready to upload
in Teams (Apps > Manage your apps > Upload) or the Teams admin center.

    --app-id   the Teams app's own id (a GUID; default TEAMS_APP_ID, else one derived from the
               bot id, the same on every build, so an upload replaces the app instead of adding one)
    --version  the app version (default: the version in pyproject.toml); bump it to update an
               uploaded app
`--draw-icons` redraws color.png (192x192) and outline.png (32x32, white on transparent) from
code, so the icons are reproducible.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
import tomllib
import uuid
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
Pixel = tuple[int, int, int, int]


def png(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """Encode an RGBA image given by `pixel(x, y) -> (r, g, b, a)` as PNG."""
    rows = b"".join(
        b"\x00" + b"".join(struct.pack("4B", *pixel(x, y)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _shield(x: float, y: float) -> bool:
    """A shield shape in the unit square."""
    if not 0.2 <= x <= 0.8 or y < 0.15:
        return False
    if y <= 0.55:
        return True
    return abs(x - 0.5) <= 0.3 * (1 - (y - 0.55) / 0.35) and y <= 0.9


def draw_icons() -> None:
    """Write color.png (BlockWatch blue with a white shield) and outline.png."""
    blue: Pixel = (0x1F, 0x4E, 0x8C, 255)
    white: Pixel = (255, 255, 255, 255)
    clear: Pixel = (0, 0, 0, 0)
    size = 192
    (HERE / "color.png").write_bytes(
        png(size, size, lambda x, y: white if _shield(x / size, y / size) else blue)
    )
    (HERE / "outline.png").write_bytes(
        png(32, 32, lambda x, y: white if _shield(x / 32, y / 32) else clear)
    )


LANGUAGE_FILES = ("nl.json",)
APP_ID_NAMESPACE = uuid.UUID("6f0c6d4e-2b1a-4f39-9d8e-0b7a1c2d3e4f")  # BlockWatch's own


def project_version() -> str:
    """The version in pyproject.toml."""
    data = tomllib.loads((HERE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def app_id_for(bot_id: str) -> str:
    """The default Teams app id: derived from the bot id, stable across builds."""
    return str(uuid.uuid5(APP_ID_NAMESPACE, bot_id.lower()))


def manifest_for(
    bot_id: str, *, app_id: str | None = None, version: str | None = None
) -> dict[str, object]:
    """manifest.json with the bot id, the Teams app id and the version filled in."""
    text = (
        (HERE / "manifest.json")
        .read_text(encoding="utf-8")
        .replace("${{BOT_ID}}", bot_id)
        .replace("${{TEAMS_APP_ID}}", app_id or app_id_for(bot_id))
        .replace("${{VERSION}}", version or project_version())
    )
    data: dict[str, object] = json.loads(text)
    return data


def build(bot_id: str, out: Path, *, app_id: str | None = None, version: str | None = None) -> Path:
    """Write the app package zip and return its path."""
    if not GUID.match(bot_id):
        raise ValueError(f"--bot-id must be the bot's Microsoft App ID (a GUID), got {bot_id!r}")
    if app_id is not None and not GUID.match(app_id):
        raise ValueError(f"--app-id must be a GUID, got {app_id!r}")
    if app_id is not None and app_id.lower() == bot_id.lower():
        raise ValueError("--app-id must be the Teams app's own id, not the bot id")
    if version is not None and not re.fullmatch(r"\d{1,9}\.\d{1,9}\.\d{1,9}", version):
        raise ValueError(f"--version must look like 1.2.3, got {version!r}")
    manifest = manifest_for(bot_id, app_id=app_id, version=version)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        package.write(HERE / "color.png", "color.png")
        package.write(HERE / "outline.png", "outline.png")
        for name in LANGUAGE_FILES:
            package.write(HERE / name, name)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot-id", help="the bot's MicrosoftAppId (GUID)")
    parser.add_argument(
        "--app-id",
        default=os.environ.get("TEAMS_APP_ID") or None,
        help="the Teams app's own id (GUID; default TEAMS_APP_ID, else derived from the bot id)",
    )
    parser.add_argument("--version", help="the app version (default: pyproject.toml's)")
    parser.add_argument("--out", type=Path, default=HERE / "build" / "blockwatch.zip")
    parser.add_argument("--draw-icons", action="store_true")
    args = parser.parse_args(argv)
    if args.draw_icons:
        draw_icons()
        if not args.bot_id:
            return 0
    if not args.bot_id:
        print(
            "build.py: --bot-id is required: the Azure Bot's Microsoft App ID (a GUID), e.g. "
            "python manifest/build.py --bot-id <MicrosoftAppId>",
            file=sys.stderr,
        )
        return 2
    try:
        print(build(args.bot_id, args.out, app_id=args.app_id, version=args.version))
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
