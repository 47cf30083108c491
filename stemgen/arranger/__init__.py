"""The arranger engine's rendering: a part written on the song's beat grid -> sound and files.

Public API::

    render_part(notes, beat_times, *, stem, context_audio, sample_rate, sound=None, instruction="",
                seed=0, meter=4, downbeat_times=None, ...) -> RenderedPart
    write_outputs(part, out_dir, song) -> {"stem": <song>_<stem>.wav, "mix": <song>_mix.wav,
                                           "midi": <song>_<stem>.mid}
    choose_sound(stem, instruction="", user=None) -> SoundChoice;  SOUNDS (the kit/program table)
    Humanization(timing_ms, tight_timing_ms, velocity_sd, ...);  Humanization.off()
    BeatGrid.from_times(beat_times).seconds_at_step(steps)

One module per concern: ``grid`` (steps -> seconds on the detected beats), ``humanize`` and
``placement`` (timing/velocity variation, note ends), the kit or program (``stemgen.render.sounds``
and ``.presets``, re-exported here),
``synthesis`` (FluidSynth through ``stemgen.render``), ``loudness`` and ``limiter`` (level and
mix), ``midifile`` (SMF with a beat-following tempo map), ``part`` (the pipeline).
"""

from stemgen.arranger.grid import STEPS_PER_BEAT, BeatGrid
from stemgen.arranger.humanize import Humanization
from stemgen.arranger.part import RenderedPart, render_part, write_outputs
from stemgen.render.sounds import SOUNDS, SoundChoice, choose_sound

__all__ = ["STEPS_PER_BEAT", "BeatGrid", "Humanization", "RenderedPart", "render_part", "write_outputs",
           "SOUNDS", "SoundChoice", "choose_sound"]
