"""Ownership, notes and close reasons, through /api/messages as Teams sends them: who may take
a case (and take it over), notes stored, audited and shown newest first within their limit, a
close reason for a case that ended without a release; each on every copy of the card, in
`history` and in the audit CSV."""

from __future__ import annotations

from typing import Any

from bot.store.audit import to_csv
from tests.helpers import Recorder, actions_of, activity, invoke, texts_of
from tests.test_user_views import APPROVER, JOOST, RESPONDER, VIEWER

RITA = ("29:rita", "00000000-0000-0000-0000-0000000000c3", "Rita")
ROLES = {
    "VIEWER_IDS": VIEWER[1],
    "RESPONDER_IDS": f"{RESPONDER[1]},{RITA[1]}",
    "APPROVER_IDS": APPROVER[1],
}
Who = tuple[str, str, str]


class Channel:
    """Joost's case card, posted in a channel, and the admins there looking at and clicking it."""

    def __init__(self, bot: Any, recorder: Recorder) -> None:
        self.bot, self.recorder = bot, recorder
        self.message_id = ""
        self.refresh: dict[str, Any] = {}

    async def post_case(self) -> None:
        for _ in range(2):  # the second time, once the investigation has finished
            body = activity(
                f"status {JOOST}",
                service_url=self.recorder.url,
                scope="channel",
                aad=APPROVER[1],
                user=APPROVER[0],
            )
            assert (await self.bot.post(body)).status_code == 201
            await self.bot.runtime.cases.idle()
        posted = [
            c for c in self.recorder.calls if c.method == "POST" and c.body.get("attachments")
        ]
        self.message_id = posted[-1].answered or ""
        self.refresh = self.recorder.cards()[-1]["refresh"]["action"]["data"]

    async def invoke(
        self, verb: str, data: dict[str, Any], who: Who, trigger: str = "manual"
    ) -> dict[str, Any]:
        body = invoke(
            verb, data, service_url=self.recorder.url, trigger=trigger, reply_to=self.message_id
        )
        body["from"] = {"id": who[0], "aadObjectId": who[1], "name": who[2]}
        body["conversation"] = activity("x", service_url="", scope="channel")["conversation"]
        response = await self.bot.post(body)
        assert response.status_code == 200, response.text
        await self.bot.runtime.cases.idle()
        card: dict[str, Any] = response.json()["value"]
        return card

    async def view(self, who: Who) -> dict[str, Any]:
        """`who`'s own view of the card, as Teams fetches it (automatic refresh)."""
        return await self.invoke("refresh_case", self.refresh, who, trigger="automatic")

    def shared(self) -> list[str]:
        """The texts of the message everyone in the channel sees, as last redrawn."""
        updates = [
            c for c in self.recorder.calls if c.method == "PUT" and self.message_id in c.path
        ]
        assert updates, "the shared copy was never redrawn"
        return texts_of(updates[-1].body["attachments"][0]["content"])


def button(card: dict[str, Any], verb: str) -> dict[str, Any]:
    found = [a for a in actions_of(card) if a["verb"] == verb]
    assert found, f"no {verb} button in {texts_of(card)}"
    return found[0]


def has(card: dict[str, Any], verb: str) -> bool:
    return any(a["verb"] == verb for a in actions_of(card))


async def _channel(start_bot: Any, recorder: Recorder) -> Channel:
    bot = await start_bot(DEMO_SCENARIO="compromised", **ROLES)
    channel = Channel(bot, recorder)
    await channel.post_case()
    return channel


async def test_take_shows_the_owner_everywhere_and_only_an_approver_takes_over(
    start_bot: Any, recorder: Recorder
) -> None:
    channel = await _channel(start_bot, recorder)
    assert not has(await channel.view(VIEWER), "take_case")
    robs = await channel.view(RESPONDER)
    take = button(robs, "take_case")
    assert take["title"] == "Take"
    assert "No owner yet" in texts_of(robs)
    taken = await channel.invoke("take_case", take["data"], RESPONDER)
    assert "Owner: Rob" in texts_of(taken)
    assert not has(taken, "take_case")  # Rob owns it: nothing to take
    assert "Owner: Rob" in channel.shared()  # every copy

    # Another responder sees the owner and no Take; replaying Rob's button changes nothing.
    ritas = await channel.view(RITA)
    assert "Owner: Rob" in texts_of(ritas)
    assert not has(ritas, "take_case")
    refused = await channel.invoke("take_case", take["data"], RITA)
    assert any("Another admin owns this case" in line for line in texts_of(refused))
    case = await channel.bot.runtime.cases.open_for(JOOST)
    assert (case.owner_id, case.owner_name) == (RESPONDER[1], "Rob")
    # A viewer may not take at all (refused before the case is looked at, and audited).
    answer = await channel.invoke("take_case", take["data"], VIEWER)
    assert "You are not allowed to do this." in " ".join(texts_of(answer))

    # An approver takes it over.
    alexs = await channel.view(APPROVER)
    over = button(alexs, "take_case")
    assert over["title"] == "Take over"
    await channel.invoke("take_case", over["data"], APPROVER)
    assert "Owner: Alex" in channel.shared()
    events = [
        (e.actor_name, e.action, e.result, e.detail)
        for e in await channel.bot.runtime.audit.events()
        if "take_case" in e.action or e.action == "case_taken"
    ]
    assert events == [
        ("Rob", "case_taken", "done", ""),
        ("Vera", "refused:take_case", "refused", events[1][3]),
        ("Alex", "case_taken", "done", "from Rob"),
    ]


async def test_notes_are_kept_audited_and_shown_newest_first(
    start_bot: Any, recorder: Recorder
) -> None:
    channel = await _channel(start_bot, recorder)
    robs = await channel.view(RESPONDER)
    assert not has(await channel.view(VIEWER), "add_note")
    save = button(robs, "add_note")["data"]
    for words in (
        "Called Joost: he clicked a link",
        "Password reset by phone",
        "MFA re-registered",
    ):
        await channel.invoke("add_note", {**save, "note": words}, RESPONDER)
    await channel.invoke("add_note", {**save, "note": "Forwarding rule was his own"}, APPROVER)
    card = await channel.view(VIEWER)  # notes are shown to everyone
    shown = texts_of(card)
    assert "Notes (4)" in shown
    notes = [line for line in shown if line.startswith(("Forwarding", "MFA", "Password", "Called"))]
    assert [n.split(" — ")[0] for n in notes] == [
        "Forwarding rule was his own",
        "MFA re-registered",
        "Password reset by phone",
    ]  # newest first, three on the card
    assert notes[0].split(" — ")[1].startswith("Alex, ")
    assert "… 1 older: see history" in shown
    assert "Notes (4)" in channel.shared()

    # Empty and too long are refused whole, with a clear answer; nothing is stored or cut.
    empty = await channel.invoke("add_note", {**save, "note": "   "}, RESPONDER)
    assert "Write the note first. Nothing was saved." in texts_of(empty)
    long = await channel.invoke("add_note", {**save, "note": "x" * 1001}, RESPONDER)
    assert any(line.startswith("A note can be up to 1,000 characters.") for line in texts_of(long))
    exact = await channel.invoke("add_note", {**save, "note": "y" * 1000}, RESPONDER)
    assert "Notes (5)" in texts_of(exact)
    case = await channel.bot.runtime.cases.open_for(JOOST)
    assert case.note_count == 5
    assert case.notes[0].text == "y" * 1000

    audited = [
        (e.actor_name, e.detail)
        for e in await channel.bot.runtime.audit.events()
        if e.action == "note_added"
    ]
    assert [name for name, _ in audited] == ["Rob", "Rob", "Rob", "Alex", "Rob"]
    assert audited[0][1] == "Called Joost: he clicked a link"
    assert "Password reset by phone" in to_csv(await channel.bot.runtime.audit.events())
    history = await _history(channel)
    assert any(
        "note_added" in line and "Called Joost: he clicked a link" in line for line in history
    )


async def _history(channel: Channel) -> list[str]:
    body = activity(
        f"history {JOOST}",
        service_url=channel.recorder.url,
        scope="channel",
        aad=APPROVER[1],
        user=APPROVER[0],
    )
    assert (await channel.bot.post(body)).status_code == 201
    return texts_of(channel.recorder.cards()[-1])


async def test_a_case_that_ended_without_release_gets_a_close_reason(
    start_bot: Any, recorder: Recorder
) -> None:
    channel = await _channel(start_bot, recorder)
    robs = await channel.view(RESPONDER)
    assert not has(robs, "close_reason")  # open cases have no close reason
    stale = button(robs, "refresh_case")["data"]
    early = await channel.invoke(
        "close_reason", {**stale, "close_reason": "false_positive"}, RESPONDER
    )
    assert any("Close reasons are for cases that ended" in line for line in texts_of(early))

    # Someone releases Joost in the Defender portal: the watcher sees him leave the list.
    state = channel.bot.sim.state
    state.blocks.remove(state.block(JOOST))
    await channel.bot.runtime.watcher.poll_once()
    await channel.bot.runtime.cases.idle()
    assert "Ended without a release; no close reason given yet." in channel.shared()

    robs = await channel.view(RESPONDER)
    assert not has(await channel.view(VIEWER), "close_reason")
    give = button(robs, "close_reason")["data"]
    given = await channel.invoke(
        "close_reason",
        {**give, "close_reason": "handled_elsewhere", "close_comment": "Released by the SOC"},
        RESPONDER,
    )
    said = "Ended without a release: Handled elsewhere: Released by the SOC"
    assert said in texts_of(given)
    assert said in channel.shared()
    # Once given, a responder cannot change it; an approver can.
    assert not has(given, "close_reason")
    again = await channel.invoke("close_reason", {**give, "close_reason": "other"}, RITA)
    assert any("A close reason was already given" in line for line in texts_of(again))
    alexs = await channel.view(APPROVER)
    change = button(alexs, "close_reason")["data"]
    await channel.invoke("close_reason", {**change, "close_reason": "false_positive"}, APPROVER)
    assert "Ended without a release: False positive (not compromised)" in channel.shared()
    bad = await channel.invoke("close_reason", {**change, "close_reason": "bored"}, APPROVER)
    assert texts_of(bad)  # a clear answer, not a 5xx

    events = [e for e in await channel.bot.runtime.audit.events() if e.action == "close_reason"]
    assert [(e.actor_name, e.parameters["reason"], e.detail) for e in events] == [
        ("Rob", "handled_elsewhere", "Released by the SOC"),
        ("Alex", "false_positive", ""),
    ]
    csv = to_csv(events)
    assert "reason=handled_elsewhere" in csv
    assert "Released by the SOC" in csv
    history = await _history(channel)
    assert any("Ended without a release: False positive" in line for line in history)
    assert any(
        "close_reason" in line and "Handled elsewhere: Released by the SOC" in line
        for line in history
    )
