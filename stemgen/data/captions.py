"""Short, factual captions of a window of music, from its descriptors and metadata tags.

The caption describes the music as it is (the full mix, stem included: the instruction writer
is the one who imagines it removed), e.g.

    "A fast funk track at about 138 BPM in A minor, dense and loud, with bright, syncopated drums,
    plus guitar and organ."

Descriptor values become words through fixed thresholds (``tempo_class``, ``density_class``...),
so a caption is a pure function of its inputs: deterministic, and the same words mean the same
ranges across the whole dataset. Middle classes ("moderate" density, ordinary loudness) are left
unsaid to keep captions short; tempo always gets a word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stemgen.stems import STEMS

# Tempo words (BPM upper bounds); "moderate" spans the usual 90-120 pop range.
SLOW_BPM = 90.0
FAST_BPM = 120.0
# Onsets per second: below SPARSE a part leaves space, above DENSE it is busy.
SPARSE_ONSETS = 1.5
DENSE_ONSETS = 5.0
# Mix RMS dBFS; songs are not loudness-normalised, so these are broad.
SOFT_DB = -30.0
LOUD_DB = -16.0
# Short-term loudness spread (dB): below STEADY the level barely moves, above DYNAMIC it swells.
STEADY_DB = 4.0
DYNAMIC_DB = 12.0
# Spectral centroid (Hz) bounds (dark below, bright above), per stem: a "bright" bass is far
# darker than a dark cymbal, so one scale would call every bass dark.
BRIGHTNESS_HZ = {
    "drums": (1200.0, 3000.0),
    "bass": (200.0, 600.0),
    "guitar": (900.0, 2200.0),
    "vocals": (1000.0, 2500.0),
    "other": (900.0, 2500.0),
}
SYNCOPATED = 0.25  # share of onset strength on 16th off-beats
KEY_CONFIDENCE = 0.6  # below this the key is left out of the caption
PROMINENT_DB = -3.0  # stem level relative to the mix
SUBTLE_DB = -15.0
AUDIBLE_DB = -60.0  # stem RMS dBFS below which its level and density are not described

STEM_NOUNS = {"drums": "drums", "bass": "bass", "guitar": "guitar", "vocals": "vocals", "other": "other instruments"}

# Slakh inst_class (and General MIDI family) names -> instrument words; tags not listed are styles.
INSTRUMENT_TAGS = {
    "piano": "piano", "chromatic percussion": "mallets", "organ": "organ", "guitar": "guitar",
    "bass": "bass", "strings": "strings", "strings (continued)": "strings", "ensemble": "ensemble",
    "brass": "brass", "reed": "reeds", "pipe": "flutes", "synth lead": "synth lead", "synth pad": "synth pad",
    "synth effects": "synth effects", "ethnic": "ethnic instruments", "percussive": "percussion",
    "sound effects": "sound effects", "drums": "drums", "vocals": "vocals",
}
# Spellings of Groove MIDI style parts ("neworleans/funk", "afrocuban/bembe"...).
STYLE_SPELLING = {
    "hiphop": "hip-hop", "neworleans": "New Orleans", "afrocuban": "Afro-Cuban", "afrobeat": "Afrobeat",
    "latin": "Latin", "brazilian": "Brazilian", "motown": "Motown", "halftime": "half-time",
    "purdieshuffle": "Purdie shuffle", "rnb": "R&B",
}
# Groove sub-styles that read as modifiers of the main style ("rock/halftime" -> "half-time rock").
STYLE_MODIFIERS = {"halftime", "fast", "slow", "soft", "indie", "prog"}
# Parts naming a take or pattern rather than a style ("funk/groove3", "beat", "fill").
_GENERIC_PART = re.compile(r"^(groove|beat|fill|take|pattern)?\d*$")


def tempo_class(bpm: float | None) -> str | None:
    """"slow" (< 90 BPM), "moderate" (90-120) or "fast" (>= 120); None without a pulse."""
    if not bpm or bpm <= 0:
        return None
    return "slow" if bpm < SLOW_BPM else "moderate" if bpm < FAST_BPM else "fast"


def density_class(onsets_per_s: float) -> str:
    return "sparse" if onsets_per_s < SPARSE_ONSETS else "dense" if onsets_per_s > DENSE_ONSETS else "moderate"


def loudness_class(db: float) -> str:
    return "soft" if db < SOFT_DB else "loud" if db > LOUD_DB else "medium"


def dynamics_class(spread_db: float) -> str:
    return "steady" if spread_db < STEADY_DB else "dynamic" if spread_db > DYNAMIC_DB else "moderate"


def brightness_class(centroid_hz: float, stem: str) -> str | None:
    """"dark", "bright" or "warm" (in between) for the stem's centroid; None for silence (0 Hz)."""
    if centroid_hz <= 0:
        return None
    dark, bright = BRIGHTNESS_HZ.get(stem, BRIGHTNESS_HZ["other"])
    return "dark" if centroid_hz < dark else "bright" if centroid_hz > bright else "warm"


def split_tags(tags: Sequence[str], stem: str = "") -> tuple[list[str], list[str]]:
    """``(styles, instruments)`` from metadata tags, deduplicated, in first-seen order.

    Instrument tags are Slakh/GM family names (``Guitar``, ``Strings (continued)``); the target
    stem's own family is dropped (the caption names the stem already). ``style:x`` and
    ``inst:x``/``instrument:x`` prefixes are honoured; other ``key:value`` tags (bpm, drummer,
    license...) are not descriptive and are ignored, as are empty and purely numeric tags.
    Everything else is a style; Groove MIDI styles such as ``funk/groove1`` or
    ``rock/halftime`` become ``funk`` and ``half-time rock``.
    """
    styles: list[str] = []
    instruments: list[str] = []
    own = STEM_NOUNS.get(stem, stem)
    for raw in tags:
        tag = str(raw).strip()
        kind = None
        if ":" in tag:
            kind, tag = (part.strip() for part in tag.split(":", 1))
            kind = kind.lower()
            if kind not in ("style", "genre", "inst", "instrument", "inst_class"):
                continue
        if not tag or tag.replace(".", "").isdigit():
            continue
        instrument = INSTRUMENT_TAGS.get(tag.lower())
        if kind in ("inst", "instrument", "inst_class") or (kind is None and instrument):
            word = instrument or tag.lower()
            if word != own and word not in instruments:
                instruments.append(word)
        else:
            style = style_words(tag)
            if style and style not in styles:
                styles.append(style)
    return styles, instruments


def style_words(tag: str) -> str:
    """A style tag as words: ``neworleans/funk`` -> "New Orleans funk", ``funk/groove2`` -> "funk"."""
    parts = [p for p in re.split(r"[/_]", tag.strip().lower()) if p and not _GENERIC_PART.match(p)]
    modifiers = [p for p in parts if p in STYLE_MODIFIERS]
    main = [p for p in parts if p not in STYLE_MODIFIERS]
    words = []
    for part in modifiers + main:  # modifiers read first: "half-time rock"
        words.extend(STYLE_SPELLING.get(w, w) for w in part.split("-") if w)
    return " ".join(words)


def make_caption(descriptors: dict, stem: str, tags: Sequence[str] = ()) -> str:
    """One or two short sentences describing the window's music and the stem's character.

    Uses ``tempo_bpm``, ``key``/``key_confidence``, ``mix_onset_density``, ``mix_loudness_db``,
    ``mix_dynamics_db`` for the music, and ``brightness_hz``, ``onset_density``,
    ``syncopation``, ``stem_to_mix_db`` for the stem; missing keys are simply not described.
    """
    d = descriptors
    styles, instruments = split_tags(tags, stem)
    tempo = tempo_class(d.get("tempo_bpm"))
    # A style modifier equal to the tempo word ("fast funk" at a fast tempo) would repeat it.
    style = " ".join(w for w in " ".join(styles[:2]).split() if w != tempo)
    head = " ".join(w for w in (_tempo_adjective(tempo), style, "track") if w)
    head = f"{_article(head)} {head}"
    if tempo:
        head += f" at about {round(d['tempo_bpm'])} BPM"
    if d.get("key") and d.get("key_confidence", 0.0) >= KEY_CONFIDENCE:
        head += f" in {d['key']}"

    character = _music_character(d)
    stem_phrase = _stem_phrase(d, stem)
    if instruments:
        stem_phrase += ", plus " + _join(instruments)
    parts = [head] + ([_join(character)] if character else [])
    return ", ".join(parts) + f", with {stem_phrase}."


def _tempo_adjective(tempo: str | None) -> str:
    return {"slow": "slow", "moderate": "moderate-tempo", "fast": "fast"}.get(tempo or "", "free-time")


def _music_character(d: dict) -> list[str]:
    """Words for the whole mix: density, loudness, dynamics (middle classes left unsaid)."""
    words = []
    if "mix_onset_density" in d and density_class(d["mix_onset_density"]) != "moderate":
        words.append(density_class(d["mix_onset_density"]))
    if "mix_loudness_db" in d and loudness_class(d["mix_loudness_db"]) != "medium":
        words.append(loudness_class(d["mix_loudness_db"]))
    if "mix_dynamics_db" in d and dynamics_class(d["mix_dynamics_db"]) != "moderate":
        words.append(dynamics_class(d["mix_dynamics_db"]))
    return words


def _stem_phrase(d: dict, stem: str) -> str:
    """e.g. "bright, busy, syncopated drums" or "subtle, dark bass"."""
    adjectives = []
    audible = d.get("loudness_db", 0.0) > AUDIBLE_DB  # a silent stem has no level or density to speak of
    level = d.get("stem_to_mix_db") if audible else None
    if level is not None and level > PROMINENT_DB:
        adjectives.append("prominent")
    elif level is not None and level < SUBTLE_DB:
        adjectives.append("subtle")
    brightness = brightness_class(d.get("brightness_hz", 0.0), stem)
    if brightness:
        adjectives.append(brightness)
    if "onset_density" in d and audible:
        density = density_class(d["onset_density"])
        adjectives.append({"sparse": "sparse", "dense": "busy"}.get(density, ""))
    if stem in STEMS and d.get("syncopation", 0.0) >= SYNCOPATED:
        adjectives.append("syncopated")
    noun = STEM_NOUNS.get(stem, stem)
    adjectives = [a for a in adjectives if a]
    return f"{', '.join(adjectives)} {noun}" if adjectives else noun


def _join(words: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _article(phrase: str) -> str:
    return "An" if phrase[:1].lower() in "aeiou" else "A"
