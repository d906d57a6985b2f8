"""Plain text for reading aloud: no markup, no emoji, tidy whitespace.

The approved answers are already plain sentences; this only removes what a
person cannot read aloud (Markdown emphasis, link syntax, emoji) so that a
future answer with markup still prints cleanly. Words are never changed.
"""

from __future__ import annotations

import re

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)
# Emoji and pictographs, dingbats, variation selectors, skin tones, ZWJ.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff"
    "\U0000fe0e\U0000fe0f\U0000200d\U0001f3fb-\U0001f3ff\U00002b50\U00002b55"
    "\U00002300-\U000023ff]"
)
_SPACES = re.compile(r"[ \t]+")


def has_emoji(text: str) -> bool:
    return bool(_EMOJI.search(text or ""))


def plain(text: str) -> str:
    """The text as staff read it aloud (same words, no markup or emoji)."""
    text = text or ""
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _EMPHASIS.sub(lambda m: m.group(2), text)
    text = _HEADING.sub("", text)
    text = _EMOJI.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    # Keep single line breaks (bullets), collapse runs of blank lines.
    out: list = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def normalize(text: str) -> str:
    """Whitespace-insensitive form, for checking that a text appears somewhere."""
    return " ".join((text or "").split())
