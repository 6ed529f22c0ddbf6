"""Alert cards that are not a single case: the digest, and the subscription messages."""

from __future__ import annotations

from bot.cases.model import Case
from bot.i18n import Texts
from cards.common import Card, adaptive_card, address, execute, heading, ours, shown, text
from cards.verbs import ListPage

DIGEST_NAMES = 15


def digest_card(cases: list[Case], *, t: Texts) -> Card:
    """Many senders restricted at once: one card instead of a flood."""
    body: list[Card] = [
        heading(t("alert.digest.title", count=t.number(len(cases)))),
        ours(t("alert.digest.detail")),
    ]
    names = [
        shown(c.display_name) if c.display_name else address(c.upn, t) for c in cases[:DIGEST_NAMES]
    ]
    body.extend(text("• " + n, size="Small", spacing="None") for n in names)
    if len(cases) > DIGEST_NAMES:
        more = t("alert.digest.more", count=len(cases) - DIGEST_NAMES)
        body.append(ours(more, isSubtle=True))
    return adaptive_card(
        body, [execute(t("alert.digest.open"), ListPage.button(page=1, lang=t.lang))]
    )


def subscriptions_card(lines: list[str], *, t: Texts, notice: str | None = None) -> Card:
    """Where alerts go."""
    body: list[Card] = []
    if notice:
        body.append(text(notice, weight="Bolder"))
    body.append(heading(t("alerts.title")))
    body.extend(text("• " + shown(line, 300), size="Small", spacing="None") for line in lines)
    if not lines:
        body.append(text(t("alerts.none")))
    return adaptive_card(body)
