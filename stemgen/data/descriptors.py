"""Musical descriptors of a song window: tempo, onsets, loudness, dynamics, brightness, key.

Two stages, so that a dataset build pays for the expensive part once per song:

* ``analyze_song(mix, sr)`` runs ``stemgen.analysis.analyze`` once on the whole song's mix: the
  arranger's own analysis (beats, tempo, onset envelope, chroma, key), so a dataset's tempo, beats
  and key are the ones the arranger finds on the same audio, and every window shares one beat grid.
  The mix's onsets are picked from that analysis' onset envelope.
* ``describe_window(analysis, start, mix_w, stem_w, context_w, sr, stem)`` then costs one
  decimation and one small STFT of the stem window (onsets, brightness) plus time-domain
  loudness; tempo, beats, mix onsets and the key are sliced from the song analysis.

The key comes from the mix's chroma over the window, not the context's: the two share their
pitched content unless the stem itself is pitched, and the mix is what the caption describes.
Drums add a nearly flat chroma, which the Krumhansl-Schmuckler correlation ignores.

Everything returned is plain JSON (floats rounded, never NaN): ``tempo_bpm`` is 0.0 when no
steady pulse is found, ``key`` is ``None`` when there is no tonal content (e.g. silence).

Beat tracking, the key finder and the spectral building blocks live in ``stemgen.analysis``; this
module only slices and summarises them per window.

Speed (bench/bench_descriptors.py): 5-10 ms of CPU per second of audio at 44.1 kHz, nearly all of
it ``analyze`` (the 23 ms-hop analysis this module ran before issue 21 took 1.4-2.4 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemgen.analysis import Analysis, analyze, spectral
from stemgen.analysis import beats as beatlib
from stemgen.analysis.key import find_key
from stemgen.analysis.spectral import pick_onsets

SILENT_DB = -60.0  # below this a signal has no meaningful onsets, brightness or key
BLOCK_S = 0.4  # short-term loudness block (EBU R128 "momentary" length)
BLOCK_HOP_S = 0.1
LOCAL_TEMPO_MARGIN_S = 1.5  # beats this far outside a window still count for its local tempo
SONG_KEY_PRIOR = 0.5  # weight of the whole song's chroma when finding a window's key


@dataclass
class SongAnalysis:
    """The song's ``stemgen.analysis.Analysis`` and what every window of the song reuses from it."""

    sample_rate: int  # rate of the song audio (and of the windows passed to describe_window)
    analysis: Analysis  # of the whole mix
    onset_times: np.ndarray  # (n,) mix onsets, seconds from the song start
    tempo_hint_bpm: float | None  # tempo from metadata (MIDI tempo map), if any
    tempo_agrees_with_hint: bool | None  # None without a hint

    @property
    def beat_times(self) -> np.ndarray:
        return self.analysis.beat_times

    @property
    def tempo_bpm(self) -> float:
        """Global tempo from the beats (0.0 when no steady pulse)."""
        return self.analysis.tempo_bpm

    @property
    def key(self) -> str | None:
        """Key of the whole song."""
        return self.analysis.key.name if self.analysis.key else None

    @property
    def key_confidence(self) -> float:
        return self.analysis.key.confidence if self.analysis.key else 0.0


# ---------------------------------------------------------------------------------------------
# Song level


def analyze_song(mix: np.ndarray, sample_rate: int, tempo_hint_bpm: float | None = None) -> SongAnalysis:
    """Analyse a whole song's mix once with ``stemgen.analysis.analyze`` (what the arranger runs).

    ``mix`` is ``(1, n)`` or ``(n,)`` float32 mono. ``tempo_hint_bpm`` (e.g. from a MIDI tempo map)
    does not steer the beats, since the arranger has no such hint: ``tempo_agrees_with_hint``
    records whether the audio's tempo is the hint, half or double it (MIDI files often carry a
    default 120 BPM that the music ignores).
    """
    analysis = analyze(mix, sample_rate)
    hint = float(tempo_hint_bpm) if tempo_hint_bpm else None
    return SongAnalysis(
        sample_rate=sample_rate,
        analysis=analysis,
        onset_times=pick_onsets(analysis.onset_env, analysis.frame_rate) / analysis.frame_rate,
        tempo_hint_bpm=hint,
        tempo_agrees_with_hint=_same_tempo_family(analysis.tempo_bpm, hint) if hint else None,
    )


def _same_tempo_family(estimate: float, hint: float, tolerance: float = 0.06) -> bool:
    """True when ``estimate`` is the hint, half or double it, within ``tolerance`` (relative)."""
    if estimate <= 0 or hint <= 0:
        return False
    return any(abs(estimate / (hint * f) - 1.0) <= tolerance for f in (0.5, 1.0, 2.0))


# ---------------------------------------------------------------------------------------------
# Window level


def describe_window(
    analysis: SongAnalysis,
    start_sample: int,
    mix_window: np.ndarray,
    stem_window: np.ndarray,
    context_window: np.ndarray,
    sample_rate: int,
    stem: str,
) -> dict:
    """Descriptors of one window (``(1, n)`` arrays at the song's rate): JSON-ready, rounded, no NaN.

    Keys:
      ``stem``; ``tempo_bpm`` (local: beats in and around the window; 0.0 without a pulse),
      ``beats`` (tracked beats inside the window); ``onset_density`` (stem onsets/s),
      ``mix_onset_density``; ``loudness_db`` (stem RMS, dBFS; -100 for silence),
      ``mix_loudness_db``, ``context_loudness_db``, ``stem_to_mix_db``; ``dynamics_db`` (stem:
      95th minus 10th percentile of 400 ms loudness blocks, silent blocks gated out),
      ``mix_dynamics_db``; ``brightness_hz`` (stem spectral centroid, below feature_sr / 2; 0
      for silence); ``syncopation`` (0-1, share of the stem's onset strength on 16th-note
      off-beats); ``key`` ("A minor"; None without tonal content) and ``key_confidence``
      (Pearson r of the best Krumhansl-Kessler profile).
    """
    if sample_rate != analysis.sample_rate:
        raise ValueError(f"window rate {sample_rate} differs from the song analysis rate {analysis.sample_rate}")
    stem_x = spectral.mono(stem_window)
    mix_x = spectral.mono(mix_window)
    duration = max(stem_x.shape[-1], 1) / sample_rate
    t0 = start_sample / sample_rate
    t1 = t0 + duration

    stem_blocks = _block_power(stem_x, sample_rate)
    mix_blocks = _block_power(mix_x, sample_rate)
    stem_db = spectral.rms_db(stem_x)
    mix_db = spectral.rms_db(mix_x)
    onset_times, onset_strengths, brightness = np.zeros(0), np.zeros(0), 0.0
    if stem_db > SILENT_DB:  # a near-silent stem would make normalised onsets out of noise
        fsr, n_fft, hop = spectral.feature_params(sample_rate)
        mag = spectral.magnitude_spectrum(spectral.decimate(stem_x, sample_rate), n_fft, hop)
        env = spectral.onset_envelope(mag, fsr, n_fft)
        frames = pick_onsets(env, fsr / hop)
        onset_times, onset_strengths = t0 + frames * hop / fsr, env[frames]
        brightness = _spectral_centroid(mag, fsr)
    key, key_conf = _window_key(analysis, t0, t1) if mix_db > SILENT_DB else (None, 0.0)
    beats, mix_onsets = analysis.beat_times, analysis.onset_times
    return {
        "stem": stem,
        "tempo_bpm": round(local_tempo(analysis, t0, t1), 1),
        "beats": int(np.count_nonzero((beats >= t0) & (beats < t1))),
        "onset_density": round(len(onset_times) / duration, 2),
        "mix_onset_density": round(np.count_nonzero((mix_onsets >= t0) & (mix_onsets < t1)) / duration, 2),
        "loudness_db": round(stem_db, 1),
        "mix_loudness_db": round(mix_db, 1),
        "context_loudness_db": round(spectral.rms_db(spectral.mono(context_window)), 1),
        "stem_to_mix_db": round(stem_db - mix_db, 1),
        "dynamics_db": round(_dynamics_db(stem_blocks), 1),
        "mix_dynamics_db": round(_dynamics_db(mix_blocks), 1),
        "brightness_hz": int(round(brightness)),
        "syncopation": round(syncopation(onset_times, onset_strengths, beats), 2),
        "key": key,
        "key_confidence": round(key_conf, 2),
    }


def local_tempo(analysis: SongAnalysis, t0: float, t1: float) -> float:
    """Tempo (BPM) from the beats in ``[t0, t1]`` widened by a margin.

    Falls back to the song's global tempo when too few beats fall near the window.
    """
    beats = analysis.beat_times
    near = beats[(beats >= t0 - LOCAL_TEMPO_MARGIN_S) & (beats <= t1 + LOCAL_TEMPO_MARGIN_S)]
    return beatlib.tempo_from_beats(near) if len(near) >= 3 else analysis.tempo_bpm


def syncopation(onset_times: np.ndarray, strengths: np.ndarray, beat_times: np.ndarray) -> float:
    """Share (0-1) of onset strength falling on 16th-note off-beats ("e" and "a") of the beat grid.

    0 means everything lands on beats and 8th notes (a straight groove); higher values mean
    accents between them (funk, ghost notes, anticipations). Onsets outside the tracked beats
    are ignored, and fewer than 4 onsets give 0.0. Relative to the tracked beat level, so a
    tracker locked at double tempo reads 16ths as 8ths.
    """
    if len(onset_times) < 4 or len(beat_times) < 2:
        return 0.0
    idx = np.searchsorted(beat_times, onset_times, side="right") - 1
    inside = (idx >= 0) & (idx < len(beat_times) - 1)
    if not np.any(inside):
        return 0.0
    idx, t, w = idx[inside], onset_times[inside], np.asarray(strengths, dtype=np.float64)[inside]
    phase = (t - beat_times[idx]) / (beat_times[idx + 1] - beat_times[idx])
    sixteenth = np.rint(phase * 4).astype(int) % 4
    total = float(w.sum())
    return float(w[(sixteenth == 1) | (sixteenth == 3)].sum() / total) if total > 0 else 0.0


def _window_key(analysis: SongAnalysis, t0: float, t1: float) -> tuple[str | None, float]:
    """Key of the mix's chroma over ``[t0, t1)``, with the whole song's chroma as a prior.

    Five seconds of chroma is a shaky basis for a key, so the song's (normalised) profile is
    added at ``SONG_KEY_PRIOR`` weight; the window still dominates where the song modulates.
    """
    chroma, rate = analysis.analysis.chroma, analysis.analysis.frame_rate
    a, b = int(t0 * rate), max(int(math.ceil(t1 * rate)), int(t0 * rate) + 1)
    window = chroma[:, a:b]
    if window.size == 0:
        return None, 0.0
    key = find_key(_unit(window.mean(axis=1)) + SONG_KEY_PRIOR * _unit(chroma.mean(axis=1)))
    return (key.name, key.confidence) if key else (None, 0.0)


# ---------------------------------------------------------------------------------------------
# Signal helpers


def _spectral_centroid(mag: np.ndarray, fsr: int) -> float:
    """Centroid (Hz) of the window's summed magnitude spectrum (louder frames weigh more)."""
    spectrum = mag.sum(axis=1, dtype=np.float64)
    total = float(spectrum.sum())
    if total <= 0:
        return 0.0
    return float(np.linspace(0.0, fsr / 2, spectrum.shape[0]) @ spectrum / total)


def _block_power(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean square of each 100 ms hop (the tail shorter than a hop is dropped)."""
    hop = max(int(BLOCK_HOP_S * sample_rate), 1)
    n = x.shape[-1] // hop
    blocks = x[: n * hop].reshape(n, hop)
    return np.einsum("ij,ij->i", blocks, blocks).astype(np.float64) / hop


def _dynamics_db(hop_power: np.ndarray) -> float:
    """95th minus 10th percentile of 400 ms block loudness; silent blocks are gated out."""
    per_block = max(int(round(BLOCK_S / BLOCK_HOP_S)), 1)
    if hop_power.size < per_block:
        return 0.0
    # Overlapping 400 ms blocks every 100 ms (EBU R128 momentary loudness, unweighted).
    block = np.convolve(hop_power, np.ones(per_block) / per_block, mode="valid")
    db = 10.0 * np.log10(np.maximum(block, 1e-12))
    db = db[db > SILENT_DB - 10]  # absolute gate, as in EBU R128: silence is not dynamics
    if db.size < 2:
        return 0.0
    return float(np.percentile(db, 95) - np.percentile(db, 10))


def _unit(v: np.ndarray) -> np.ndarray:
    total = float(np.sum(v))
    return v / total if total > 0 else np.zeros_like(v)

