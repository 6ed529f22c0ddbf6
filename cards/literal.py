"""Text from the tenant or a user, made safe to show: the line between what BlockWatch wrote and
what an attacker may have written.

The account under investigation is, by assumption, the attacker's: rule names, forwarding
addresses, app names, display names and even Microsoft's error messages (which quote them) are
the attacker's words. cards/common.py shows every text as a TextRun, which Adaptive Cards never
read as markdown; `literal` also makes what could still deceive visible or harmless: direction
overrides and invisible characters are shown as `[U+202E]`, link schemes are defanged
(`hxxps[://]evil[.]example`, as security tools write them), and every text is capped.
`shown` caps one value so that a 10 KB rule name cannot crowd out the rest of the card, and
`address` writes an internationalised domain in its ASCII form too, flagging mixed scripts.
"""

from __future__ import annotations

import re
import unicodedata

from bot.i18n import Texts

MAX_VALUE = 120

# Bidirectional controls: an RLO makes "moc.live" read as "evil.com".
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Invisible and zero-width characters: they split words past filters and hide in look-alikes.
_INVISIBLE = (
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2028\u2029"
    "\u2060-\u2064\u206a-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
)
_HIDDEN = re.compile(f"[{_BIDI}{_INVISIBLE}]")
_WEB_URL = re.compile(r"(?i)\b(h)tt(ps?|p)(://)([^\s/?#]*)|\b(ftps?|file)(://)([^\s/?#]*)")
_OTHER_SCHEME = re.compile(
    r"(?i)\b(javascript|vbscript|data|mailto|tel|sip|callto|ms-[a-z-]+):(?=\S)"
)
_WWW = re.compile(r"(?i)\bwww\.")


def _visible(match: re.Match[str]) -> str:
    return f"[U+{ord(match[0]):04X}]"


def _defang_web(match: re.Match[str]) -> str:
    if match[1]:  # http(s)
        scheme, host = f"{match[1]}xx{match[2]}", match[4]
    else:
        scheme, host = match[5], match[7]
    return f"{scheme}[://]{host.replace('.', '[.]')}"


def literal(value: str, limit: int) -> str:
    """`value` with hidden characters made visible, links defanged, at most `limit` long."""
    safe = _HIDDEN.sub(_visible, value)
    safe = _WEB_URL.sub(_defang_web, safe)
    safe = _OTHER_SCHEME.sub(lambda m: f"{m[1]}[:]", safe)
    safe = _WWW.sub(lambda m: m[0][:3] + "[.]", safe)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def shown(value: str, limit: int = MAX_VALUE) -> str:
    """One value from the tenant or a user, as a card may show it (see the module docstring)."""
    return literal(value, limit)


def _scripts(label: str) -> set[str]:
    return {unicodedata.name(ch, "UNKNOWN").split()[0] for ch in label if ch.isalpha()}


def address(value: str, t: Texts, limit: int = MAX_VALUE) -> str:
    """An e-mail address or domain; an internationalised domain is followed by its ASCII
    (punycode) form, and flagged when one of its labels mixes scripts (`pаypal` with a
    Cyrillic `а`)."""
    local, at, domain = value.rpartition("@")
    if domain.isascii():
        return shown(value, limit)
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = "?"
    mixed = any(len(_scripts(label)) > 1 for label in domain.split("."))
    note = ascii_domain + (", " + t("address.mixed_scripts") if mixed else "")
    return shown(f"{local}{at}{domain}", limit) + f" ({shown(note, limit)})"
