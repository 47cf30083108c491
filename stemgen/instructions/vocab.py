"""Vocabulary of the offline writer: verbs, stem nouns, descriptor words, styles and clauses.

Kept apart from the composition logic (``offline.py``) so that it can grow without touching code.
Descriptor thresholds are deliberately coarse: they only pick words, never numbers a model learns.
"""

from __future__ import annotations

# (verb phrase, weight): "Add" dominates as in the paper's examples.
VERBS: tuple[tuple[str, int], ...] = (
    ("Add", 8), ("Generate", 3), ("Insert", 2), ("Introduce", 2), ("Layer in", 1),
    ("Bring in", 1), ("Lay down", 1), ("Create", 1), ("Include", 1),
)

# (noun phrase, form): "a" = countable singular (takes "a"/"an"), "mass" = no article,
# "plural" = no article and plural verbs in the clauses ("drums that sit", "bass that sits").
NOUNS: dict[str, tuple[tuple[str, str], ...]] = {
    "drums": (
        ("drums", "plural"), ("beats", "plural"), ("percussion", "mass"), ("drum groove", "a"),
        ("beat", "a"), ("drum part", "a"), ("drum pattern", "a"), ("groove", "a"),
    ),
    "bass": (
        ("bass", "mass"), ("bassline", "a"), ("bass part", "a"), ("bass groove", "a"),
        ("bass line", "a"), ("low end", "a"),
    ),
    "guitar": (
        ("guitar", "mass"), ("guitar riff", "a"), ("guitar chords", "plural"), ("rhythm guitar part", "a"),
        ("guitar line", "a"), ("guitar riffs", "plural"), ("guitar part", "a"),
    ),
}

# Words used when the descriptors say little: they keep sentences varied without inventing facts.
GENERIC_ADJECTIVES: dict[str, tuple[str, ...]] = {
    "drums": ("acoustic", "tight", "natural", "live-sounding", "solid", "crisp", "organic"),
    "bass": ("round", "solid", "melodic", "electric", "fingerstyle", "supportive", "warm"),
    "guitar": ("electric", "acoustic", "clean", "jangly", "crunchy", "melodic", "rhythmic"),
}

# Descriptor → level → adjectives. Levels come from the thresholds below.
ADJECTIVES: dict[str, dict[str, tuple[str, ...]]] = {
    "tempo": {
        "slow": ("laid-back", "relaxed", "unhurried", "slow"),
        "fast": ("upbeat", "driving", "energetic"),
        "very_fast": ("fast", "high-energy", "racing"),
    },
    "density": {
        "low": ("sparse", "minimal", "understated", "restrained"),
        "high": ("busy", "intricate", "lively", "dense"),
    },
    "loudness": {
        "low": ("soft", "gentle", "delicate", "quiet"),
        "high": ("punchy", "powerful", "bold", "hard-hitting"),
    },
    "dynamics": {
        "low": ("even", "steady", "controlled"),
        "high": ("dynamic", "expressive"),
    },
    "brightness": {
        "low": ("warm", "dark", "mellow"),
        "high": ("bright", "crisp", "sparkling"),
    },
}

# Feel words that read as a contradiction side by side ("high-energy, quiet"): never both.
CLASHES: frozenset[frozenset[tuple[str, str]]] = frozenset({
    frozenset({("tempo", "fast"), ("loudness", "low")}),
    frozenset({("tempo", "very_fast"), ("loudness", "low")}),
    frozenset({("tempo", "slow"), ("loudness", "high")}),
})

# Clauses that describe how the part plays; "{bpm}" and "{key}" are filled from the descriptors,
# "{s}" makes the verb agree with the noun ("drums that sit", "a beat that sits").
CLAUSES: dict[str, dict[str, tuple[str, ...]]] = {
    "tempo": {
        "any": ("at around {bpm} BPM", "locked to the {bpm} BPM pulse", "that sit{s} on the {bpm} BPM tempo"),
    },
    "density": {
        "low": ("that leave{s} plenty of space", "with a sparse, open feel", "with only a few well-placed accents"),
        "mid": ("with a steady, even pulse", "that keep{s} a tight pocket", "with a solid, unfussy pattern"),
        "high": ("with a busy, syncopated pattern", "full of rhythmic detail", "with lots of rhythmic movement"),
    },
    "dynamics": {
        "low": ("that stay{s} even and controlled", "with consistent dynamics"),
        "high": ("with accents that build and release", "with expressive dynamics", "that swell{s} and drop{s} with the song"),
    },
    "key": {
        "any": ("that follow{s} the {key} harmony", "in {key}", "that sit{s} in {key}"),
    },
}

# Where the part sits (the part's onset-weighted mean MIDI pitch, ``register_midi``): below the first
# bound "low", from the second "high", between them "mid". The bands and their words are those the
# MIDI part models' register prior understands (``stemgen.midi.register``: the bounds are fitted there
# on the band songs' train split, ``python -m stemgen.midi.register DATA STEM MODEL --modes``, and
# stored in the model's config.json "register"/"modes"; tests check that both agree).
REGISTER_BOUNDS: dict[str, tuple[float, float]] = {"bass": (36.0, 41.0), "guitar": (57.0, 62.0)}
REGISTER_CLAUSES: dict[str, dict[str, tuple[str, ...]]] = {
    "bass": {
        "low": ("played deep and low", "down low on the neck", "in a deep, low register", "low on the E string"),
        "mid": ("in the middle register", "in a mid-range register", "in the middle of the neck"),
        "high": ("up the neck", "in a high register", "played higher up the neck", "an octave up"),
    },
    "guitar": {
        "low": ("low on the neck", "in a low register", "on the low strings, down low"),
        "mid": ("in the middle register", "in a mid-range voicing", "in the middle of the neck"),
        "high": ("high up the neck", "in a high register", "played higher up the neck"),
    },
}

# Why the part is there; purpose clauses close the sentence ("{s}" as above).
PURPOSES: dict[str, tuple[str, ...]] = {
    "drums": (
        "to enhance the emotion", "to drive the song forward", "to lift the energy",
        "to give the track a solid backbone", "to add momentum", "to anchor the groove",
        "that lock{s} in with the rest of the band",
    ),
    "bass": (
        "to fill out the low end", "that lock{s} in with the kick", "to anchor the harmony",
        "to give the song more weight", "to glue the rhythm section together", "to deepen the groove",
    ),
    "guitar": (
        "to add texture", "to fill out the harmony", "to give the track more bite",
        "to add colour to the arrangement", "that complement{s} the groove", "to thicken the mix",
    ),
    "any": ("that fit{s} the mood of the song", "that suit{s} the rest of the track", "to complete the arrangement"),
}

# Style tags (Groove MIDI names such as "funk", "rock-indie", "latin-samba", and common genres)
# → adjective phrases. A "base-sub" tag looks up SUBSTYLES[sub] first, then STYLES[base].
STYLES: dict[str, tuple[str, ...]] = {
    "afrobeat": ("Afrobeat", "polyrhythmic Afrobeat"),
    "afrocuban": ("Afro-Cuban",),
    "blues": ("bluesy", "blues"),
    "country": ("country", "twangy country"),
    "dance": ("dance", "four-on-the-floor dance"),
    "disco": ("disco",),
    "electronic": ("electronic",),
    "folk": ("folk", "folky"),
    "funk": ("funky", "funk", "syncopated funk"),
    "gospel": ("gospel", "soulful gospel"),
    "highlife": ("highlife", "West African highlife"),
    "hiphop": ("hip-hop", "boom-bap"),
    "hip-hop": ("hip-hop", "boom-bap"),
    "house": ("house",),
    "indie": ("indie",),
    "jazz": ("jazzy", "jazz", "swinging jazz"),
    "latin": ("Latin", "Latin-flavoured"),
    "metal": ("metal", "heavy metal"),
    "middleeastern": ("Middle Eastern",),
    "neworleans": ("New Orleans",),
    "pop": ("pop", "polished pop"),
    "punk": ("punk", "raw punk"),
    "reggae": ("reggae", "laid-back reggae", "one-drop reggae"),
    "rnb": ("R&B", "smooth R&B"),
    "rock": ("rock", "driving rock"),
    "soul": ("soul", "soulful"),
}
SUBSTYLES: dict[str, tuple[str, ...]] = {
    "bembe": ("Afro-Cuban bembe",), "calypso": ("calypso",), "rhumba": ("rumba",),
    "shuffle": ("shuffling",), "breakbeat": ("breakbeat",), "disco": ("disco",),
    "purdieshuffle": ("Purdie-shuffle",), "fusion": ("jazz-fusion",), "klezmer": ("klezmer",),
    "march": ("marching",), "swing": ("swing", "swinging"), "samba": ("samba",),
    "merengue": ("merengue",), "reggaeton": ("reggaeton",), "bomba": ("bomba",),
    "brazilian": ("Brazilian",), "chacarera": ("chacarera",), "secondline": ("second-line",),
    "chacha": ("cha-cha",), "soft": ("soft pop",), "indie": ("indie", "indie rock"),
    "prog": ("prog-rock",), "halftime": ("half-time",), "rockabilly": ("rockabilly",),
    "motown": ("Motown",), "folk": ("folk-rock",),
}
