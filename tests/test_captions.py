"""Captions from descriptors and metadata tags."""

from __future__ import annotations

import numpy as np
import pytest

from stemgen.audio.io import load_audio
from stemgen.data.captions import brightness_class, make_caption, split_tags, style_words, tempo_class
from stemgen.data.descriptors import analyze_song, describe_window

FUNKY = {
    "stem": "drums", "tempo_bpm": 112.4, "beats": 10, "onset_density": 6.2, "mix_onset_density": 5.6,
    "loudness_db": -18.0, "mix_loudness_db": -12.0, "context_loudness_db": -13.0, "stem_to_mix_db": -6.0,
    "dynamics_db": 8.0, "mix_dynamics_db": 3.0, "brightness_hz": 3400, "syncopation": 0.4,
    "key": "A minor", "key_confidence": 0.82,
}


def test_caption_mentions_tempo_class_tag_key_and_stem():
    caption = make_caption(FUNKY, "drums", tags=["funk/groove1"])
    assert caption == (
        "A moderate-tempo funk track at about 112 BPM in A minor, dense, loud and steady, "
        "with bright, busy, syncopated drums."
    )
    assert tempo_class(FUNKY["tempo_bpm"]) in caption


@pytest.mark.parametrize("bpm, word", [(70, "slow"), (100, "moderate"), (140, "fast")])
def test_tempo_words(bpm, word):
    assert tempo_class(bpm) == word
    assert word in make_caption({**FUNKY, "tempo_bpm": bpm}, "drums", ["jazz"])


def test_caption_is_deterministic_and_tag_order_stable():
    tags = ("rock/halftime", "Guitar", "Organ", "Drums", "bpm:96", "Guitar")
    first = make_caption(FUNKY, "drums", tags)
    assert first == make_caption(dict(FUNKY), "drums", list(tags))
    assert "half-time rock" in first
    assert first.endswith("plus guitar and organ.")  # own stem (Drums) and duplicates dropped
    assert "96" not in first  # bpm:96 is metadata, not a style


def test_unconfident_key_and_no_pulse_are_left_out():
    caption = make_caption({**FUNKY, "key_confidence": 0.3, "tempo_bpm": 0.0}, "bass")
    assert "minor" not in caption and "BPM" not in caption
    assert caption.startswith("A free-time track")


def test_style_and_instrument_tags():
    assert style_words("neworleans/funk") == "New Orleans funk"
    assert style_words("funk/groove3") == "funk"
    assert style_words("latin/brazilian-samba") == "Latin Brazilian samba"
    assert style_words("hiphop") == "hip-hop"
    styles, instruments = split_tags(["reggae", "inst:Piano", "Strings (continued)", "Bass", "drummer:drummer1"], "bass")
    assert styles == ["reggae"]
    assert instruments == ["piano", "strings"]


def test_brightness_is_judged_per_stem():
    assert brightness_class(500, "drums") == "dark"
    assert brightness_class(700, "bass") == "bright"
    assert brightness_class(0, "bass") is None  # silence


def test_fast_style_modifier_not_repeated():
    caption = make_caption({**FUNKY, "tempo_bpm": 150}, "drums", ["funk/fast"])
    assert caption.startswith("A fast funk track")


def test_silent_window_caption():
    silent = {"stem": "guitar", "tempo_bpm": 0.0, "onset_density": 0.0, "mix_onset_density": 0.0,
              "loudness_db": -100.0, "mix_loudness_db": -100.0, "stem_to_mix_db": 0.0, "dynamics_db": 0.0,
              "mix_dynamics_db": 0.0, "brightness_hz": 0, "syncopation": 0.0, "key": None, "key_confidence": 0.0}
    assert make_caption(silent, "guitar") == "A free-time track, sparse, soft and steady, with guitar."


def test_caption_from_real_multitrack(musdb_song):
    sr = 44100
    stems = {n: load_audio(musdb_song / f"{n}.wav", sample_rate=sr, mono=True)[0] for n in ("drums", "bass", "other", "vocals")}
    mix = np.sum(list(stems.values()), axis=0)
    n = int(5.12 * sr)
    d = describe_window(analyze_song(mix, sr), 0, mix[:, :n], stems["bass"][:, :n], (mix - stems["bass"])[:, :n], sr, "bass")
    caption = make_caption(d, "bass", ["rock", "Guitar", "Vocals"])
    assert caption.startswith("A moderate-tempo rock track at about 1")
    assert "bass" in caption and caption.endswith("plus guitar and vocals.")
