"""Languages: English (default) and Dutch catalogues, plus locale-aware times and numbers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_time, format_timedelta
from babel.numbers import format_decimal

LANGUAGES = ("en", "nl")
UTC_ZONE = ZoneInfo("UTC")
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The message catalogue of `lang` (bot/locales/<lang>.json)."""
    text = resources.files("bot").joinpath("locales", f"{lang}.json").read_text(encoding="utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def language_of(locale: object) -> str:
    """The supported language for a Teams locale such as `nl-NL` (English otherwise)."""
    if not isinstance(locale, str):
        return DEFAULT_LANGUAGE
    prefix = locale[:35].split("-")[0].split("_")[0].lower()
    return prefix if prefix in LANGUAGES else DEFAULT_LANGUAGE


_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,30}(/[A-Za-z0-9_+-]{1,30}){0,3}")


def time_zone(name: object) -> ZoneInfo:
    """The admin's time zone from Teams' clientInfo, UTC when unknown or invalid. Never raises:
    an IANA name is checked for its shape first, and whatever ZoneInfo raises for a name that
    is not a zone (a directory such as `Europe` raises IsADirectoryError where the tzdata
    package is used) counts as unknown."""
    if not isinstance(name, str) or not _ZONE_NAME.fullmatch(name):
        return UTC_ZONE
    return _zone(name)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError, OSError (a directory), …
        return UTC_ZONE


def texts_for(locale: object, timezone: object, lang: str | None = None) -> Texts:
    """The words and times for a client: `lang` if given, else its locale's language; its time
    zone. The one place client locale and time zone values are read; it never raises."""
    return Texts(lang if lang in LANGUAGES else language_of(locale), time_zone(timezone))


@dataclass(frozen=True)
class Texts:
    """Everything a card needs to speak the admin's language: words, numbers and times."""

    lang: str = DEFAULT_LANGUAGE
    zone: ZoneInfo = UTC_ZONE

    def __call__(self, key: str, **values: Any) -> str:
        """The message `key` in this language, with `{placeholders}` filled in."""
        template = catalogue(self.lang).get(key) or catalogue(DEFAULT_LANGUAGE)[key]
        return template.format(**values)

    def template(self, key: str) -> str:
        """The message `key` with its `{placeholders}` left in (to fill in later)."""
        return catalogue(self.lang).get(key) or catalogue(DEFAULT_LANGUAGE)[key]

    def number(self, value: int) -> str:
        """`1842` as `1,842` (en) or `1.842` (nl)."""
        return format_decimal(value, locale=self.lang)

    def ago(self, moment: datetime, now: datetime) -> str:
        """How long ago `moment` was, e.g. `47 minutes ago` / `47 minuten geleden`; "just now"
        within the last few seconds (or when `moment` is a little after `now`: clocks and the
        time a card was rendered differ by a little)."""
        delta = moment - now
        if delta > -timedelta(seconds=5):
            return self("time.just_now")
        return format_timedelta(delta, locale=self.lang, add_direction=True, threshold=1.1)

    def clock(self, moment: datetime) -> str:
        """The time of day in the admin's time zone, to the second (`03:10:42`)."""
        return format_time(moment.astimezone(self.zone), "HH:mm:ss", locale=self.lang)

    def when(self, moment: datetime) -> str:
        """An absolute date and time in the admin's time zone, with the zone named."""
        local = moment.astimezone(self.zone)
        text = format_datetime(local, "medium", tzinfo=self.zone, locale=self.lang)
        return f"{text} ({self.zone.key})"
