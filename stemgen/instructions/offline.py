"""Offline writer: composes natural, varied instructions from descriptors and style tags.

Used when no LLM endpoint is configured, and as the LLM writer's fallback. Every sentence is
"<verb> [a] [feel adjectives] [style] <stem noun> [where it sits] [how it plays] [why]." with words
picked by a
random generator seeded from the request content, so a dataset build is reproducible while its
sentences vary from window to window.
"""

from __future__ import annotations

import random
import re

from stemgen.stems import PITCHED_STEMS

from .base import InstructionWriter, Progress
from .request import InstructionRequest, InstructionResult, digest
from .vocab import (
    ADJECTIVES,
    CLASHES,
    CLAUSES,
    GENERIC_ADJECTIVES,
    NOUNS,
    PURPOSES,
    REGISTER_BOUNDS,
    REGISTER_CLAUSES,
    STYLES,
    SUBSTYLES,
    VERBS,
)

# (low, high) thresholds: below low → "low", above high → "high", else "mid".
# Onset density depends on the instrument (a drum kit plays many more onsets than a bass).
_DENSITY = {"drums": (3.0, 7.0), "bass": (1.5, 4.0), "guitar": (2.0, 5.0)}
_LOUDNESS = (-30.0, -16.0)
_DYNAMICS = (4.0, 10.0)
_BRIGHTNESS = (1200.0, 3000.0)
_KEY = re.compile(r"^[A-G][#b♯♭]?(?:\s*(?:major|minor|maj|min))?$", re.I)
_KEYED_STEMS = PITCHED_STEMS  # a key means little for drums


def _number(descriptors: dict, name: str) -> float | None:
    value = descriptors.get(name)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN → None


def _level(value: float | None, bounds: tuple[float, float]) -> str | None:
    if value is None:
        return None
    low, high = bounds
    return "low" if value < low else "high" if value > high else "mid"


def _tempo_level(bpm: float | None) -> str | None:
    if bpm is None or bpm <= 0:
        return None
    return "slow" if bpm < 85 else "mid" if bpm < 115 else "fast" if bpm < 145 else "very_fast"


def descriptor_levels(request: InstructionRequest) -> dict[str, str]:
    """Coarse level per descriptor category (tempo, density, loudness, dynamics, brightness, and the
    register of a bass or guitar part: low, mid, high)."""
    d = request.descriptors
    levels = {
        "tempo": _tempo_level(_number(d, "tempo_bpm")),
        "density": _level(_number(d, "onset_density"), _DENSITY.get(request.stem, (2.0, 5.0))),
        "loudness": _level(_number(d, "loudness_db"), _LOUDNESS),
        "dynamics": _level(_number(d, "dynamics_db"), _DYNAMICS),
        "brightness": _level(_number(d, "brightness_hz"), _BRIGHTNESS),
        "register": _level(_number(d, "register_midi"), REGISTER_BOUNDS[request.stem])
        if request.stem in REGISTER_BOUNDS else None,
    }
    return {k: v for k, v in levels.items() if v is not None}


def style_phrases(request: InstructionRequest) -> list[str]:
    """Style adjective phrases from the tags (Groove MIDI style names, genres), else from the caption."""
    def lookup(words: list[str]) -> list[str]:
        found: list[str] = []
        for word in words:
            tag = re.sub(r"[\s_/]+", "-", word.strip().lower())
            base, _, sub = tag.partition("-")
            found += SUBSTYLES.get(sub, ()) if sub else ()
            found += STYLES.get(tag, ()) or STYLES.get(base, ())
        return list(dict.fromkeys(found))

    return lookup(list(request.tags)) or lookup(re.findall(r"[a-z][a-z-]+", request.caption.lower()))


def _article(phrase: str) -> str:
    return "an " if phrase[:1].lower() in "aeiou" else "a "


class _Composer:
    """Builds one sentence for one request with one seeded generator."""

    def __init__(self, request: InstructionRequest, seed: int):
        self.req = request
        self.stem = request.stem
        self.rng = random.Random(int(digest({**request.content(), "seed": seed})[:16], 16))
        self.levels = descriptor_levels(request)

    def verb(self) -> str:
        phrases, weights = zip(*VERBS)
        return self.rng.choices(phrases, weights=weights)[0]

    def adjectives(self) -> tuple[str, set[str]]:
        """Adjective phrase: up to two feel words (descriptors), maybe a generic word, a style.

        Returns the phrase and the descriptor categories it used (their clauses would repeat it).
        """
        rng = self.rng
        usable = [c for c, lvl in self.levels.items() if lvl in ADJECTIVES.get(c, {})]
        rng.shuffle(usable)
        chosen = usable[: rng.choice((0, 1, 1, 2))]
        if len(chosen) == 2 and frozenset((c, self.levels[c]) for c in chosen) in CLASHES:
            chosen = chosen[:1]
        feel = [rng.choice(ADJECTIVES[c][self.levels[c]]) for c in chosen]
        styles = style_phrases(self.req)
        style = rng.choice(styles) if styles and rng.random() < 0.85 else ""
        feel = [w for w in feel if w not in style]  # no "laid-back laid-back reggae"
        generic = ""
        if len(feel) + bool(style) < 2 and rng.random() < (0.6 if not (feel or style) else 0.25):
            generic = rng.choice(GENERIC_ADJECTIVES.get(self.stem, ("fitting",)))
        # Coordinate feel words take a comma ("soft, sparse"); generic and style words stack.
        return " ".join(p for p in (", ".join(feel), generic, style) if p), set(chosen)

    def clauses(self, used: set[str], plural: bool) -> str:
        """At most one "how it plays" clause and one purpose clause, verbs agreeing with the noun."""
        rng = self.rng
        d = self.req.descriptors
        options: list[str] = []
        bpm = _number(d, "tempo_bpm")
        if bpm and bpm > 0:
            options += [c.replace("{bpm}", str(round(bpm))) for c in CLAUSES["tempo"]["any"]]
        for cat in ("density", "dynamics"):
            if cat not in used and self.levels.get(cat) in CLAUSES[cat]:
                options += CLAUSES[cat][self.levels[cat]]
        key = str(d.get("key") or "").strip()
        if self.stem in _KEYED_STEMS and _KEY.match(key):
            options += [c.replace("{key}", key) for c in CLAUSES["key"]["any"]]
        parts: list[str] = []
        if options and rng.random() < 0.6:
            parts.append(rng.choice(options))
        if rng.random() < (0.5 if parts else 0.65):
            purposes = PURPOSES.get(self.stem, ()) + PURPOSES["any"]
            if parts and "that" in parts[0].split():  # never two "that" clauses in one sentence
                purposes = tuple(p for p in purposes if p.startswith("to "))
            parts.append(rng.choice(purposes))
        return "".join(" " + p.replace("{s}", "" if plural else "s") for p in parts)

    def register(self) -> str:
        """Where the part sits (" down low on the neck"), when the descriptors say: always said, since
        the context does not tell the register (drawn last, so the other words stay as they were)."""
        level = self.levels.get("register")
        return " " + self.rng.choice(REGISTER_CLAUSES[self.stem][level]) if level else ""

    def sentence(self) -> str:
        verb = self.verb()
        adjectives, used = self.adjectives()
        noun, form = self.rng.choice(NOUNS.get(self.stem, ((self.stem, "mass"),)))
        phrase = f"{adjectives} {noun}".strip()
        if form == "a":
            phrase = _article(phrase) + phrase
        clauses = self.clauses(used, plural=form == "plural")
        return f"{verb} {phrase}{self.register()}{clauses}."


def compose_instruction(request: InstructionRequest, seed: int = 0) -> str:
    """One offline instruction for ``request``; deterministic for a given request and seed."""
    return _Composer(request, seed).sentence()


class OfflineWriter(InstructionWriter):
    """Writer that needs no endpoint: every result has origin ``"fallback"``."""

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed

    def _write(self, requests: list[InstructionRequest], progress: Progress | None) -> list[InstructionResult]:
        results = [InstructionResult(compose_instruction(r, self.seed), "fallback") for r in requests]
        if progress is not None and results:
            progress(len(results))
        return results

    def __repr__(self) -> str:
        return f"OfflineWriter(seed={self.seed})"
