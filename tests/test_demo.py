"""``make demo``'s generation step: drums added to the bundled CC BY mix with the default engine."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from stemgen.demo import DEMO_MIX, insert_drums
from stemgen.generation.defaults import DEFAULT_ENGINE
from stemgen.midifile.io import load_midi


def test_demo_adds_drums_with_the_default_engine(tmp_path, one_torch_thread):
    paths = insert_drums(DEMO_MIX, tmp_path, seconds=10.0, engine=DEFAULT_ENGINE["drums"])
    assert paths["spectrogram"].stat().st_size > 10_000
    song, sr = sf.read(paths["input"], always_2d=True)
    stem, stem_sr = sf.read(paths["stem"], always_2d=True)
    mix, _ = sf.read(paths["mix"], always_2d=True)
    assert stem_sr == sr and stem.shape == mix.shape == song.shape
    assert np.sqrt(np.mean(stem ** 2)) > 1e-3  # an audible part
    if DEFAULT_ENGINE["drums"] == "arranger":  # the part as MIDI sits beside the stem
        part = load_midi(paths["midi"])
        assert sum(len(t) for t in part.tracks) > 8 and len(part.tempos) > 3
