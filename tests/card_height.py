"""How tall a card renders, estimated from its JSON: the proxy pytest checks against Teams'
~600 px target, since there is no browser in every test run.

The real measure is ./scripts/screenshots: the Agents Playground's web client in headless
Chromium, the height of the `.ac-adaptiveCard` element at the Playground's card width (446 px,
Teams' default width for a bot card in a chat), written to docs/screenshots/sizes.json. This
estimate follows the Adaptive Cards renderer's default host config (font sizes 12/14/17 px,
line heights about 1.35 of them, spacing small 3 / default 8 / medium 20 px, 15 px padding,
32 px buttons 8 px apart, wrapping into rows) with average character widths fitted to those
screenshots; tests/test_card_height.py keeps it within 12 % of them.
"""

from __future__ import annotations

import math
from typing import Any

CARD_WIDTH = 446  # px: the card in the Agents Playground (and a Teams chat) screenshots
PADDING = 15
SPACING = {"None": 0, "Small": 3, "Default": 8, "Medium": 20, "Large": 30, "ExtraLarge": 40}
FONT = {"Small": 12, "Default": 14, "Medium": 17, "Large": 21}
LINE = 1.36  # line height / font size
CHAR = 0.49  # average character width / font size (bold: +8 %)
BUTTON = 32  # px high
BUTTON_GAP = 8
BUTTON_PADDING = 28  # px of a button besides its title
BUTTON_CHAR = 7.9  # px per character of a button title (bold 14 px)

Card = dict[str, Any]


def _text_height(value: str, width: float, size: str, bold: bool) -> float:
    font = FONT.get(size, 14)
    per_line = max(1, int(width / (font * CHAR * (1.08 if bold else 1))))
    lines = sum(max(1, math.ceil(len(part) / per_line)) for part in value.split("\n"))
    return lines * font * LINE


def _button_width(action: Card) -> float:
    return len(str(action.get("title", ""))) * BUTTON_CHAR + BUTTON_PADDING


def _actions_height(actions: list[Card], width: float) -> float:
    """Buttons side by side, wrapping into rows of `width`."""
    if not actions:
        return 0
    rows, used = 1, 0.0
    for action in actions:
        wide = min(_button_width(action), width)
        if used and used + BUTTON_GAP + wide > width:
            rows, used = rows + 1, wide
        else:
            used += (BUTTON_GAP if used else 0) + wide
    return rows * BUTTON + (rows - 1) * BUTTON_GAP


def _natural_width(element: Card, width: float) -> float:
    """How wide an `auto` column's content wants to be."""
    kind = element.get("type")
    if kind == "ActionSet":
        return min(sum(_button_width(a) + BUTTON_GAP for a in element["actions"]) - 8, width)
    if kind in ("TextBlock", "RichTextBlock"):
        words = element.get("text") or "".join(r["text"] for r in element.get("inlines", []))
        return min(len(words) * FONT.get(element.get("size", "Default"), 14) * CHAR, width)
    return width


def _height(element: Card, width: float, shown: frozenset[str]) -> float:
    kind = element.get("type")
    if kind == "TextBlock":
        bold = element.get("weight") == "Bolder"
        return _text_height(element["text"], width, element.get("size", "Default"), bold)
    if kind == "RichTextBlock":
        run = element["inlines"][0] if element["inlines"] else {}
        value = "".join(r["text"] for r in element["inlines"])
        return _text_height(value, width, run.get("size", "Default"), run.get("weight") == "Bolder")
    if kind == "ActionSet":
        return _actions_height(element["actions"], width)
    if kind == "Container":
        return _stack(element.get("items", []), width, shown)
    if kind == "ColumnSet":
        columns = element.get("columns", [])
        autos = [
            max((_natural_width(i, width) for i in c["items"]), default=0)
            for c in columns
            if c.get("width") == "auto"
        ]
        stretch = max(width - sum(autos) - 8 * (len(columns) - 1), 40)
        heights, autos_left = [], iter(autos)
        for column in columns:
            wide = next(autos_left) if column.get("width") == "auto" else stretch
            heights.append(_stack(column.get("items", []), wide, shown))
        return max(heights, default=0)
    if kind in ("Input.Text", "Input.ChoiceSet", "FactSet", "Image"):
        return 40
    return 0


def _visible(element: Card, shown: frozenset[str]) -> bool:
    return element.get("isVisible", True) is not False or element.get("id") in shown


def _stack(items: list[Card], width: float, shown: frozenset[str]) -> float:
    total, first = 0.0, True
    for item in items:
        if not _visible(item, shown):
            continue
        if not first:
            total += SPACING.get(item.get("spacing", "Default"), 8)
            if item.get("separator"):
                total += 1 + SPACING["Default"]
        total += _height(item, width, shown)
        first = False
    return total


def toggled_ids(card: Card) -> frozenset[str]:
    """The ids every Action.ToggleVisibility in the card shows (its expanded state)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.ToggleVisibility":
                found.update(
                    t if isinstance(t, str) else t["elementId"] for t in node["targetElements"]
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return frozenset(found)


def estimated_height(card: Card, *, shown: frozenset[str] = frozenset()) -> int:
    """The card's rendered height in px at CARD_WIDTH, with the hidden elements in `shown`
    made visible (as "Show all findings" does)."""
    inner = CARD_WIDTH - 2 * PADDING
    body = _stack(card.get("body", []), inner, shown)
    actions = card.get("actions") or []
    if actions:
        body += SPACING["Default"] + _actions_height(actions, inner)
    return round(body + 2 * PADDING)
