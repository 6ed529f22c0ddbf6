"""Help, "didn't understand" and error cards."""

from __future__ import annotations

from bot.i18n import Texts
from cards.common import Card, adaptive_card, ours, shown, text, title


def help_card(lines: list[str], *, t: Texts, unknown: str | None = None) -> Card:
    """The command list; with `unknown`, says first what was not understood."""
    body: list[Card] = []
    if unknown is not None:
        body.append(text(t("help.unknown", text=shown(unknown, 200)), weight="Bolder"))
    body.append(title(t("help.title")))
    body.append(ours(t("help.intro"), isSubtle=True, spacing="Small"))
    body.extend(ours("• " + line, spacing="Small") for line in lines)
    return adaptive_card(body)


def error_card(message: str, *, t: Texts, correlation_id: str) -> Card:
    """A friendly error with the reference an administrator can look up in the log."""
    body = [title(t("error.title")), text(message)]
    if correlation_id:
        body.append(
            text(
                t("error.reference", cid=correlation_id),
                isSubtle=True,
                size="Small",
                fontType="Monospace",
            )
        )
    return adaptive_card(body)
