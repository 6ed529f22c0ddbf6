"""Untrusted JSON and text, read once at the boundary (requests from Teams, answers from
Microsoft) so that nothing downstream — database, logs, cards — can fail on what it carries.

`parse` bounds what a hostile body can cost (nesting depth, digits in a number) and `clean`
gives every string one normal form: unpaired UTF-16 surrogates (valid in JSON's `\\ud800`
escapes, refused by every UTF-8 encoder: SQLite's, PostgreSQL's, the log's) become U+FFFD, and
control characters other than tab and line breaks (NUL is refused by PostgreSQL) are dropped.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64  # activities nest about 8 deep; Adaptive Cards in attachments about 20
MAX_NUMBER_CHARS = 64  # far beyond any id, count or timestamp a real activity carries

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNUSUAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class NotJson(ValueError):
    """The body cannot be read as bounded JSON; `reason` says why, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def clean(text: str) -> str:
    """`text` in its one normal form (see the module docstring); most text comes back as is."""
    if _UNUSUAL.search(text) is None:
        return text
    return _CONTROL.sub("", _LONE_SURROGATE.sub("\ufffd", text))


def _number(kind: str, convert: Any) -> Any:
    def read(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise NotJson(f"{kind} with more than {MAX_NUMBER_CHARS} characters")
        return convert(text)

    return read


def _no_constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


def parse(raw: bytes | str) -> Any:
    """The JSON value in `raw` (UTF-8, a BOM allowed), with every string cleaned; raises
    `NotJson` for anything else, including nesting deeper than MAX_DEPTH."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        value = json.loads(
            text,
            parse_int=_number("an integer", int),
            parse_float=_number("a number", float),
            parse_constant=_no_constant,
        )
    except NotJson:
        raise
    except UnicodeDecodeError:
        raise NotJson("not UTF-8") from None
    except RecursionError:
        raise NotJson(f"nested deeper than {MAX_DEPTH}") from None
    except ValueError:  # JSONDecodeError, and anything a converter refuses
        raise NotJson("not valid JSON") from None
    return cleaned(value)


def cleaned(value: Any) -> Any:
    """A parsed JSON value with every string (keys too) cleaned; raises `NotJson` when it nests
    deeper than MAX_DEPTH. Iterative, so depth costs no recursion."""
    root: list[Any] = [value]
    stack: list[tuple[Any, Any, int]] = [(root, 0, 0)]  # (container, key, depth of the value)
    while stack:
        parent, key, depth = stack.pop()
        item = parent[key]
        if isinstance(item, str):
            parent[key] = clean(item)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise NotJson(f"nested deeper than {MAX_DEPTH}")
            if isinstance(item, dict):
                item = {clean(k): v for k, v in item.items()}
                parent[key] = item
                stack.extend((item, k, depth + 1) for k in item)
            else:
                stack.extend((item, i, depth + 1) for i in range(len(item)))
    return root[0]
