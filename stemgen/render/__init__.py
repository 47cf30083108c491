"""Render MIDI with a General MIDI SoundFont synthesizer (FluidSynth), one stem per family.

Public API::

    find_soundfonts() -> list[SoundFont]
    render_midi(midi, soundfont=None, sample_rate=44100) -> float32 (1, n)
    render_stems(midi, soundfont=None, sample_rate=44100, augmentation=None) -> StemRender
    Augmentation.draw(seed, song_id) -> Augmentation
    read_midi(path) -> MidiScore   (raises StemgenInputError on bad files)
    choose_sound(stem, instruction="", user=None) -> SoundChoice   (``sounds``: the kit/program table;
    ``presets``: which programs and kits a SoundFont has)

Why FluidSynth (libfluidsynth through ctypes) and not TinySoundFont, measured by
``bench/bench_render.py`` (FluidR3_GM, 44.1 kHz, band MIDI, CPU time, all four stems):

==============  =========================  ==============================  ==========================
synth           speed (4 stems / per stem)  fidelity probes                 install friction
==============  =========================  ==============================  ==========================
FluidSynth      31x / 123x real time        6/6 (drums, program, bend,      none: Debian libfluidsynth3
                                            sustain pedal, volume CC, sf3)
TinySoundFont   37x / 148x real time        5/6: ignores the sustain pedal  pip metadata needs pyaudio,
                                                                            which fails to build
==============  =========================  ==============================  ==========================

TinySoundFont is ~20% faster but drops the sustain pedal (piano and guitar parts lose their
ringing notes) and needs ``--no-deps`` to install; FluidSynth also renders every family from one
SoundFont load in one pass, with stems that sum exactly to the full render. Neither reaches the
~150x per song hoped for at 44.1 kHz: synthesis itself (tens of voices) dominates, not parsing (4%).
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
