"""Reading JSONL one line at a time: a bad line is reported with its number and never stops the rest.

Every reader of the project (``suggest``, the corpus validator, the ``select`` pool) goes through
:func:`read_lines`, so they agree on what a line is and what counts as blank:

- lines end at ``\\n`` (a ``\\r`` before it is JSON whitespace), so line numbers match ``wc -l`` and
  editors even when a stray ``\\r`` sits inside a line;
- each line is decoded on its own: invalid UTF-8 spoils that line only, and is reported with the byte;
- a UTF-8 byte-order mark at the start of the first line is ignored (Windows tools write one);
- blank means only JSON whitespace (space, tab, CR, LF): a line holding e.g. U+001C or U+00A0 is
  reported as invalid JSON rather than silently skipped (``str.strip`` would drop it);
- ``json`` errors that are not ``JSONDecodeError`` (numbers over 4,300 digits raise ``ValueError``,
  deep nesting ``RecursionError``) are reported like any other bad line.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class Line:
    """One non-blank line: its 1-based number and the parsed value, or why it could not be read."""

    number: int
    value: Any = None
    error: str | None = None


def parse_line(number: int, raw: bytes | str) -> Line | None:
    """The :class:`Line` for one raw line (bytes or text), or None when it is blank."""
    if isinstance(raw, bytes):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if not raw.strip(JSON_WHITESPACE.encode()):
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Line(number, error=f"not valid UTF-8 at byte {exc.start + 1}")
    else:
        text = raw.removeprefix("\ufeff") if number == 1 else raw
        if not text.strip(JSON_WHITESPACE):
            return None
    try:
        return Line(number, json.loads(text))
    except json.JSONDecodeError as exc:
        return Line(number, error=f"invalid JSON: {exc.msg} at column {exc.colno}")
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        return Line(number, error=f"unreadable JSON: {str(exc).split(';')[0][:120]}")
    except RecursionError:  # e.g. 100,000 nested [
        return Line(number, error="unreadable JSON: nested too deeply")


def read_lines(source: Iterable[bytes | str]) -> Iterator[Line]:
    """Every non-blank line of ``source`` (a binary file, ideally; text files split at ``\\r`` too)."""
    for number, raw in enumerate(source, 1):
        line = parse_line(number, raw)
        if line is not None:
            yield line


def read_file(path: str | Path) -> Iterator[Line]:
    """Every non-blank line of the JSONL file at ``path``."""
    with open(path, "rb") as fh:
        yield from read_lines(fh)
