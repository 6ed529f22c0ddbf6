"""Help, "didn't understand" and error cards."""

from __future__ import annotations

from bot.i18n import Texts
from cards.common import Card, adaptive_card, execute, ours, shown, text, title
from cards.verbs import PickHistory, PickSender, PickStatus


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


def pick_sender_card(
    kind: str, senders: list[tuple[str, str]], *, t: Texts, typed_example: str
) -> Card:
    """`status` or `history` typed without an address: pick a sender with a case, or type one."""
    body: list[Card] = [title(t(f"pick.{kind}.title"))]
    if not senders:
        body.append(ours(t(f"pick.{kind}.none"), isSubtle=True))
        body.append(ours(t("pick.type", example=typed_example), isSubtle=True, size="Small"))
        return adaptive_card(body)
    choices = [
        {"title": shown(f"{name} ({upn})" if name else upn, 120), "value": upn}
        for upn, name in senders
    ]
    body.append(
        {
            "type": "Input.ChoiceSet",
            "id": "upn",
            "style": "compact",
            "value": senders[0][0],
            "label": t("pick.label"),
            "choices": choices,
        }
    )
    body.append(ours(t("pick.type", example=typed_example), isSubtle=True, size="Small"))
    return adaptive_card(body, [execute(t("pick.show"), PICKS[kind].button(lang=t.lang))])


PICKS: dict[str, type[PickSender]] = {"status": PickStatus, "history": PickHistory}
