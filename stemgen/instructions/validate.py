"""Check that an LLM reply is a usable instruction: one imperative sentence asking to add the stem.

LLMs wrap answers in quotes, prefixes ("Instruction: ...") or chatter ("Sure! Here's ..."); the
first two are cleaned away, the last is rejected so that the writer retries.
"""

from __future__ import annotations

import re

MIN_WORDS, MAX_WORDS = 2, 40
MAX_CHARS = 240

# Imperative verbs that ask for a part to be added (the paper's "Add ...", "Generate ...").
ADD_VERBS = frozenset(
    "add generate insert introduce layer lay bring create include put play compose weave drop "
    "build give inject incorporate overlay supply provide write record fill craft blend".split()
)

# Words that count as naming each stem (singular/plural forms are matched by the regex below).
STEM_WORDS: dict[str, tuple[str, ...]] = {
    "drums": (
        "drum", "drumming", "drumbeat", "beat", "breakbeat", "backbeat", "groove", "percussion",
        "percussive", "kit", "rhythm", "hi-hat", "hihat", "snare", "kick", "cymbal", "fill", "shuffle",
    ),
    "bass": ("bass", "bassline", "low end", "low-end", "sub-bass", "808", "walking line"),
    "guitar": (
        "guitar", "riff", "chord", "strum", "strumming", "lick", "power chord", "arpeggio",
        "rhythm guitar", "lead line", "fingerpicking", "six-string",
    ),
}

_PREFIX = re.compile(r"^\s*(?:\*\*)?(?:instruction|answer|output|response|sentence)\s*[:\-–]\s*(?:\*\*)?\s*", re.I)
_QUOTES = "\"'`“”‘’«»*_ "
_SENTENCE_BREAK = re.compile(r"[.!?](?:[\"'”’)\]]*)\s+(?=\S)")


class InvalidInstruction(ValueError):
    """The reply is not a usable instruction; the message says why (never contains request secrets)."""


def clean_reply(text: str) -> str:
    """Strip whitespace, surrounding quotes/markdown and an ``Instruction:``-style prefix."""
    text = (text or "").strip()
    for _ in range(3):  # prefixes and quotes can nest: **Instruction:** "Add ..."
        before = text
        text = _PREFIX.sub("", text).strip().strip(_QUOTES).strip()
        if text == before:
            break
    return text


def mentions_stem(text: str, stem: str) -> bool:
    """True when ``text`` names ``stem`` or one of its synonyms (as whole words, plural allowed)."""
    words = (stem,) + STEM_WORDS.get(stem, ())
    pattern = r"\b(?:" + "|".join(re.escape(w) for w in words) + r")(?:s|es)?\b"
    return re.search(pattern, text, re.I) is not None


def validate_instruction(text: str, stem: str) -> str:
    """Return the cleaned instruction, or raise :class:`InvalidInstruction` saying why it is unusable."""
    text = clean_reply(text)
    if not text:
        raise InvalidInstruction("empty reply")
    if "\n" in text:
        raise InvalidInstruction("more than one line")
    if len(text) > MAX_CHARS:
        raise InvalidInstruction(f"too long ({len(text)} characters)")
    if _SENTENCE_BREAK.search(text):
        raise InvalidInstruction("more than one sentence")
    words = text.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        raise InvalidInstruction(f"{len(words)} words")
    verb = re.sub(r"[^a-z]", "", words[0].lower())
    if verb not in ADD_VERBS:
        raise InvalidInstruction(f"does not start with an imperative verb such as 'Add' ({words[0]!r})")
    if not mentions_stem(text, stem):
        raise InvalidInstruction(f"does not mention the {stem}")
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!" else text.rstrip(",;:") + "."
