"""The card verbs: one model per verb, declaring the data its button carries. cards/ builds a
button's data from the model (`data()`); bot/chat/ parses a click with the same model (`parse`),
so what a card sends and what the handler reads cannot drift apart.

Card data is untrusted: a click names a case id, a version, a known step, never a UPN to act on
(Open names a listed sender, whose case is looked up). Keys the model does not know are ignored
(Teams adds the card's input values); a value that does not fit is refused with
`InvalidAction`, whose message says which key (and is audited with the refusal). Free text is
passed on as typed: the workflow trims it and enforces its limits, in one place.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.cases.model import CloseReason
from bot.cases.outcomes import StepName

UPN = re.compile(r"^[^@\s]{1,113}@[A-Za-z0-9.-]{1,200}\.[A-Za-z]{2,63}$")


class InvalidAction(ValueError):
    """Card data that does not fit the verb's model (stale, forged or corrupted)."""


def _case_id(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    return value


def _upn(value: Any) -> str:
    if not isinstance(value, str) or not UPN.match(value.strip()):
        raise ValueError("not a user principal name")
    return value.strip()


CaseId = Annotated[str, BeforeValidator(_case_id)]
Version = Annotated[int, Field(strict=True, ge=1, le=10**9)]
Page = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=10_000)]
Text = Annotated[str, Field(strict=True)]  # the workflow refuses or cuts it (one place)
Upn = Annotated[str, BeforeValidator(_upn)]


class CardVerb(BaseModel):
    """A card verb and the data its button carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    verb: ClassVar[str]
    # What a refusal says about each key (default: "<key> is not valid").
    said: ClassVar[Mapping[str, str]] = {
        "case": "case must be a case id",
        "version": "version must be a positive number",
        "step": "unknown step",
        "close_reason": "unknown close reason",
        "page": "page must be a number from 1 to 10000",
        "refresh": "refresh must be true or false",
    }

    # Keys a form's inputs fill in: optional on the button, required in the click.
    needs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """The click's data as this verb's model; InvalidAction when it does not fit."""
        try:
            parsed = cls.model_validate(data)
        except ValidationError as err:
            where = err.errors()[0]["loc"]
            key = str(where[0]) if where else "data"
            raise InvalidAction(cls.said.get(key, f"{key} must be text")) from err
        for key in cls.needs:
            if getattr(parsed, key) is None:
                raise InvalidAction(cls.said.get(key, f"{key} is missing"))
        return parsed

    @classmethod
    def button(cls, **values: Any) -> Self:
        """The verb as a card's button carries it (not validated: a card shows what the tenant
        said, however odd; the click is what gets checked)."""
        return cls.model_construct(**values)

    def data(self) -> dict[str, Any]:
        """The data the button carries (keys a card sets, in a stable order)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude_none=True, warnings=False)


class OnCase(CardVerb):
    """A button on a case card: the case, the version the card showed, the card's language."""

    case: CaseId
    version: Version
    lang: str = ""


class OpenCase(CardVerb):
    """Open a sender's case from the list (`upn`), or a case by id (alerts)."""

    verb = "open_case"
    said = {**CardVerb.said, "upn": "open_case needs a valid upn"}
    upn: Upn | None = None
    lang: str = ""
    page: Page = 1
    case: CaseId | None = None


class RefreshCase(CardVerb):
    """Show the case as it is now (also Teams' automatic refresh for each viewer)."""

    verb = "refresh_case"
    case: CaseId
    version: int | None = None
    lang: str = ""


class RunStep(OnCase):
    """Run one checklist step; the rules to disable and methods to remove come from inputs."""

    verb = "run_step"
    step: StepName
    rules: Text | None = None
    remove: Text | None = None


class RunRecommended(OnCase):
    """Run steps 1-4 in order."""

    verb = "run_recommended"


class SkipStep(OnCase):
    """Skip a step with the reason typed into the form."""

    verb = "skip_step"
    needs = ("step",)
    step: StepName | None = None  # the form's choice input sets it
    reason: Text = ""


class Release(OnCase):
    """Release the sender (or ask for the second approval; an override with its reason)."""

    verb = "release"
    override_reason: Text = ""


class ApproveRelease(OnCase):
    """Approve another admin's release request."""

    verb = "approve_release"


class TakeCase(OnCase):
    """Take the case (assign it to me)."""

    verb = "take_case"


class AddNote(OnCase):
    """Add the note typed into the form."""

    verb = "add_note"
    note: Text = ""


class GiveCloseReason(OnCase):
    """Why a case ended without a release, with a comment."""

    verb = "close_reason"
    needs = ("close_reason",)
    close_reason: CloseReason | None = None  # the form's choice input sets it
    close_comment: Text = ""


class UndoContainment(OnCase):
    """Put back what the automatic containment policy changed (approvers)."""

    verb = "undo_containment"


class GiveBack(OnCase):
    """Give the account back after automatic containment: a new temporary password to the
    clicker privately, and sign-in allowed again (responders)."""

    verb = "give_back"


class RefreshWave(CardVerb):
    """Show a wave's card as it is now, at a page (also Teams' automatic refresh per viewer)."""

    verb = "refresh_wave"
    said = {**CardVerb.said, "wave": "wave must be a wave id"}
    wave: CaseId
    page: Page = 1
    lang: str = ""


class OnWave(CardVerb):
    """A bulk action on a wave: the wave, the version its card showed, the card's language."""

    said = {**CardVerb.said, "wave": "wave must be a wave id"}
    wave: CaseId
    version: Version
    lang: str = ""


class BulkContain(OnWave):
    """Contain every account of the wave with strong evidence (approvers)."""

    verb = "bulk_contain"


class BulkRelease(OnWave):
    """Release every contained account of the wave, each through its own gate (approvers)."""

    verb = "bulk_release"


class BulkTake(OnWave):
    """Take every case of the wave nobody owns (responders)."""

    verb = "bulk_take"


class ListPage(CardVerb):
    """A page of the restricted list (from the view read last), or Refresh (read live)."""

    verb = "list_page"
    page: Page = 1
    lang: str = ""
    refresh: Annotated[bool, Field(strict=True)] | None = None


class PickSender(CardVerb):
    """The sender picked in the `status` or `history` picker (the choice input sets `upn`)."""

    said = {**CardVerb.said, "upn": "pick a sender"}
    needs = ("upn",)
    lang: str = ""
    upn: Upn | None = None


class PickStatus(PickSender):
    """The sender picked for `status`."""

    verb = "pick_status"


class PickHistory(PickSender):
    """The sender picked for `history`."""

    verb = "pick_history"


VERBS: dict[str, type[CardVerb]] = {
    v.verb: v
    for v in (
        OpenCase,
        RefreshCase,
        RunStep,
        RunRecommended,
        SkipStep,
        Release,
        ApproveRelease,
        TakeCase,
        AddNote,
        GiveCloseReason,
        UndoContainment,
        GiveBack,
        RefreshWave,
        BulkContain,
        BulkRelease,
        BulkTake,
        ListPage,
        PickStatus,
        PickHistory,
    )
}
