"""Reading a CSV file as text: UTF-8 lines, each decoding error named by its line, and rows counted.

Shared with the order import (``rapport.value.imports``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast


class _EncodingError(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _text_lines(source: IO[bytes] | IO[str]) -> Iterator[str]:
    """Physical lines as text. Bytes are decoded line by line (a newline byte is never part
    of a UTF-8 sequence), so a decoding error names its line."""
    first = True
    for number, raw in enumerate(source, 1):
        if isinstance(raw, bytes):
            if first and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise _EncodingError(number)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _EncodingError(number) from None
        else:
            text = cast(str, raw)
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def _open(source: IO[bytes] | IO[str] | Path) -> IO[bytes] | IO[str]:
    return source.open("rb") if isinstance(source, Path) else source


def count_rows(source: IO[bytes] | IO[str]) -> int:
    """Data rows in a seekable file (quoted newlines counted right); rewinds it."""
    try:
        rows = sum(1 for cells in csv.reader(_text_lines(source)) if cells) - 1
    except (_EncodingError, csv.Error):
        rows = 0
    source.seek(0)
    return max(rows, 0)
