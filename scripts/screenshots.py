"""Takes the README's screenshots: BlockWatch's cards as the Microsoft 365 Agents Playground
renders them, in English and Dutch, and the rendered size of each.

For each language it starts the demo bot (the `compromised` scenario, in a temporary folder)
and the Playground in front of it, as the end-to-end tests do, then has headless Chromium drive
the Playground's web client (scripts/screenshots.mjs): "alerts on", the list, Open on Joost,
"Refresh for my view" (the Playground does not refresh cards per viewer; Teams does), the case
card collapsed and with "Show all findings", Run recommended steps, Release, and the alert that
the demo's later restriction (Lynne) posts, once automatic containment (AUTO_CONTAIN=on) has
contained her. The PNGs and docs/screenshots/sizes.json (card
widths and heights in CSS pixels, at the Playground's card width) go to docs/screenshots/.

Run it as ./scripts/screenshots (it checks for Node.js and Chromium first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.playground import running_stack  # noqa: E402  (after the path is set)

DRIVER = ROOT / "scripts" / "screenshots.mjs"
DEMO = {
    "DEMO_SCENARIO": "compromised",
    "AUTO_CONTAIN": "on",  # the alert (Lynne) shows the automatic containment
    "DEMO_RESTRICT_AFTER_SECONDS": "45",  # after the list and the case: the alert comes last
    "ALERT_POLL_SECONDS": "2",
    "FOLLOW_UP_SECONDS": "5",
    "LOG_LEVEL": "WARNING",
}


def take(lang: str, out: Path, chromium: str) -> dict[str, object]:
    """Every screenshot in one language; the sizes the driver measured."""
    with tempfile.TemporaryDirectory() as work, running_stack(Path(work), **DEMO) as stack:
        done = subprocess.run(
            ["node", str(DRIVER), stack.playground_url, lang, str(out), chromium],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"screenshots in {lang} failed (see {out}/failed-{lang}.png)")
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", required=True, help="the Chromium binary")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--lang", action="append", choices=["en", "nl"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for lang in args.lang or ["en", "nl"]:
        sizes[lang] = take(lang, args.out, args.chromium)["sizes"]
        print(f"{lang}: {sizes[lang]}")
    (args.out / "sizes.json").write_text(json.dumps(sizes, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
