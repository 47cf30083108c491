"""Render MIDI with a General MIDI SoundFont synthesizer (FluidSynth), one stem per family.

Public API::

    find_soundfonts() -> list[SoundFont]
    render_midi(midi, soundfont=None, sample_rate=44100) -> float32 (1, n)
    render_stems(midi, soundfont=None, sample_rate=44100, augmentation=None) -> StemRender
    Augmentation.draw(seed, song_id) -> Augmentation
    read_midi(path) -> MidiScore   (raises StemgenInputError on bad files)

Why FluidSynth (libfluidsynth through ctypes) and not TinySoundFont: see ``bench/bench_render.py``
and ``stemgen.render.synth``. In short, on band MIDI at 44.1 kHz both run at a similar speed
(FluidSynth ~40x, TinySoundFont ~50x real time per song, one core, four stems), but only
FluidSynth honours the sustain pedal, its stems sum exactly to the full render from one
SoundFont load, and it comes from Debian/conda with no build step, while ``tinysoundfont``'s
PyPI metadata pulls ``pyaudio``, which fails to build without the portaudio headers.
"""

from stemgen.render.augmentation import Augmentation, AugmentationSpace
from stemgen.render.families import FAMILIES, family_of
from stemgen.render.score import MidiScore, read_midi
from stemgen.render.soundfonts import SoundFont, find_soundfonts, get_soundfont
from stemgen.render.stems import StemRender, render_midi, render_stems
from stemgen.render.synth import SynthSettings

__all__ = [
    "Augmentation", "AugmentationSpace", "FAMILIES", "family_of", "MidiScore", "read_midi",
    "SoundFont", "find_soundfonts", "get_soundfont", "StemRender", "render_midi", "render_stems",
    "SynthSettings",
]
