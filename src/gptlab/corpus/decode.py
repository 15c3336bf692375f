"""Bytes to text, the same way for every source."""

from __future__ import annotations

from gptlab.errors import DataError


def decode_utf8(data: bytes, name: str) -> str:
    """Decode UTF-8, drop a leading BOM, CRLF to LF; an error names the file and the byte
    offset (``xxd -s OFFSET`` finds it)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = data[e.start]
        raise DataError(
            f"{name} is not valid UTF-8: byte 0x{bad:02x} at byte offset {e.start}; re-encode it as UTF-8"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")
