"""``analyze(audio, sr) -> Analysis``: beats, downbeats, tempo curve, meter, key, chords, confidence.

One pass over a 22.05 kHz copy: a 1024-point STFT (11.6 ms hop) gives the log-mel spectrogram whose
spectral flux is the onset envelope (whole band for beats; < 200 Hz, 200 Hz - 2 kHz, > 2 kHz for
the per-step onset channels); a 4096-point STFT on the same hop gives chroma; a 1.4 kHz copy with
a 1024-point STFT (1.35 Hz bins) gives the bass chroma. The semitone spectrum ``pitch_salience``
(MIDI 24..95) reuses both: the bass STFT below ``PITCH_SPLIT``, the 4096-point one from there. Frame ``i`` of every feature is centred at
``i * hop / feature_sr`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stemgen.analysis import beats as beatlib
from stemgen.analysis import chords as chordlib
from stemgen.analysis import downbeats as dblib
from stemgen.analysis import grid_decisions as decisions
from stemgen.analysis import learned_beats, spectral
from stemgen.analysis.key import Key, find_key
from stemgen.analysis.reliability import MIN_ACTIVATION_PULSE, MIN_BEAT_CONFIDENCE, activation_pulse, pulse_clarity

SILENT_DB = -60.0
CHROMA_N_FFT = 4096
BASS_DECIMATION = 16  # 22.05 kHz / 16 = 1378 Hz: 1.35 Hz bins at 1024 points, bass fundamentals only
BASS_N_FFT = 1024
BASS_FMIN, BASS_FMAX = 27.5, 160.0  # A0 .. ~E3: the bass register of the contract ("below ~150 Hz")
# Semitone spectrum: MIDI PITCH_LOW .. PITCH_LOW + N_PITCH - 1 (C1..B6), as stemgen.midi.context's
# PITCH_CONTEXT_LOW / N_PITCH_CONTEXT. The 4096-point STFT's bins are 5.4 Hz apart: below G3 (196 Hz)
# neighbouring semitones lie under 2 bins apart, inside one Hann main lobe, so lower pitches come
# from the bass STFT (1.35 Hz bins; its 0.74 s window blurs fast low notes over ~3 16ths at 120 BPM).
PITCH_LOW, N_PITCH = 24, 72
PITCH_SPLIT = 55
LOW_HZ, HIGH_HZ = 200.0, 2000.0  # onset band edges
# Half librosa's 23 ms hop: the tempo estimate's lag grid and the beat times are twice as fine
# (beat F 0.67 -> 0.75 on the first 8 test-split songs, measured while choosing it) for twice the STFT cost.
HOP_DIVISOR = 2
# Beat trackers: "numpy" the DSP tracker (commercial-safe), "learned" the TCN + bar-pointer DBN
# (stemgen.analysis.learned_beats; weights trained on CC BY-NC-SA data), "learned-cc" the same with
# commercial-safe weights (learned_beats.MODELS), librosa/madmom references.
BACKENDS = ("numpy", "learned", "learned-cc", "librosa", "madmom")
# The user-facing names (``--beat-tracker``): "dsp" is the "numpy" backend.
BEAT_TRACKERS = {"dsp": "numpy", "learned": "learned", "learned-cc": "learned-cc", "librosa": "librosa", "madmom": "madmom"}
# The default: the learned tracker with commercial-safe weights (issue 18: on the held-out renders it
# reads beats and bars better than the DSP in every context, 2 s CPU for a 3-minute song; with onsets
# counted in their nearest 16th and the arranger's part models fitted on its grid, the arranger's
# drums, bass and guitar score higher on it than on the DSP's; docs/EVALUATION.md "learned-cc as the
# default" and "Onsets in their nearest 16th").
DEFAULT_BEAT_TRACKER = "learned-cc"


def analysis_backend(beat_tracker: str | None) -> str:
    """The ``analyze`` backend of a ``--beat-tracker`` name (``None``: the default); backend names pass."""
    name = DEFAULT_BEAT_TRACKER if beat_tracker is None else beat_tracker
    if name in BACKENDS:
        return name
    if name not in BEAT_TRACKERS:
        raise ValueError(f"--beat-tracker must be one of {', '.join(BEAT_TRACKERS)}, not {name!r}")
    return BEAT_TRACKERS[name]


@dataclass
class Analysis:
    """What the analysis of a (context) mix found. Times in seconds from the start of the audio."""

    sample_rate: int
    duration_s: float
    silent: bool
    beat_times: np.ndarray
    downbeat_times: np.ndarray
    tempo_bpm: float  # global (mean of inlier beat intervals); 0.0 without beats
    tempo_curve: np.ndarray  # (n_beats,) local BPM at each beat
    meter: int  # beats per bar
    key: Key | None
    chords: list[str]  # mir_eval majmin label per beat interval
    beat_confidence: float  # 0..1, see stemgen.analysis.reliability
    backend: str = "numpy"
    # Frame features (frame_rate frames/s), used by step_features.
    frame_rate: float = 0.0
    onset_env: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (frames,) whole band
    band_onsets: np.ndarray = field(default_factory=lambda: np.zeros((3, 0)))  # (3, frames) low/mid/high
    chroma: np.ndarray = field(default_factory=lambda: np.zeros((12, 0)))
    bass_chroma: np.ndarray = field(default_factory=lambda: np.zeros((12, 0)))
    bass_db: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (frames,) bass-band level, dBFS
    pitch_salience: np.ndarray = field(default_factory=lambda: np.zeros((N_PITCH, 0)))  # (72, frames) MIDI 24..95
    audio: np.ndarray | None = None  # mono feature-rate copy (for exact per-step RMS)
    feature_sr: int = spectral.MAX_FEATURE_SR
    user_grid: bool = False  # the grid is the user's (a beats file, or BPM + downbeat): never refused
    compound: bool = False  # the beats are dotted quarters (the user's 6/8, 9/8, 12/8: midifile.meter)
    # How clearly the detection chose (None: not measured: a grid the user gave or corrected, the
    # librosa/madmom backends, silence, too few beats). bar_start_margin: the chosen bar phase's accent
    # contrast minus the runner-up phase's (downbeats.bar_start_margin; z units, 0 a tie), the runner-up
    # bar_start_alternative beats after the chosen downbeat (2 in 4/4: beat 3); tempo_octave_margin: the
    # chosen tempo's grid score minus its double's or half's. grid_doubts.grid_warnings reads them.
    bar_start_margin: float | None = None
    bar_start_alternative: int = 0
    tempo_octave_margin: float | None = None

    @property
    def beat_period_s(self) -> float:
        return 60.0 / self.tempo_bpm if self.tempo_bpm > 0 else 0.0


def analyze(audio: np.ndarray, sample_rate: int, backend: str | None = None) -> Analysis:
    """Analyse ``audio`` (``(channels, n)`` or ``(n,)`` float) at ``sample_rate``.

    ``backend``: ``None`` (``DEFAULT_BEAT_TRACKER``'s), "numpy" (the DSP tracker: the tempo refined to a fraction of a frame, candidate grids from
    the port of librosa's tracker and a strictly periodic grid at that tempo and its multiples, the
    tempo octave, beat phase and bar phase chosen on explicit evidence by ``grid_decisions``; no
    numba, no model weights),
    "learned" (``learned_beats``' TCN activations decoded by ``bar_tracker``'s bar-pointer HMM: beats,
    downbeats and meter together; weights trained on CC BY-NC-SA renders, non-commercial),
    "learned-cc" (the same network and decoder, weights trained on commercial-safe material),
    "librosa" (librosa.beat.beat_track itself; compiles numba kernels on first use) or "madmom"
    (madmom's RNN+DBN downbeat tracker; model weights CC BY-NC-SA 4.0, see docs/EVALUATION.md).
    Never raises on silence or noise: check ``reliability.require_beats`` before relying on beats.
    """
    backend = analysis_backend(None) if backend is None else backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown analysis backend {backend!r} ({', '.join(BACKENDS)})")
    x = spectral.mono(audio)
    duration = x.size / sample_rate
    fsr, n_fft, hop = analysis_params()
    y = spectral.decimate(x, sample_rate, fsr)
    frame_rate = fsr / hop
    silent = spectral.rms_db(y) <= SILENT_DB

    mag = spectral.magnitude_spectrum(y, n_fft, hop)
    logmel = spectral.log_mel(mag, fsr, n_fft, spectral.ONSET_TOP_DB)
    env, bands = _onset_envelopes(logmel, fsr)
    chroma_mag = spectral.magnitude_spectrum(y, CHROMA_N_FFT, hop)[:, : env.size]
    tuning = 0.0 if silent else spectral.estimate_tuning(chroma_mag, fsr)
    chroma_power = chroma_mag**2
    chroma = spectral.chroma(chroma_power, fsr, CHROMA_N_FFT, tuning)
    low_power = _low_band_power(y, fsr, hop)
    bass, bass_db = _bass_chroma(low_power, fsr, tuning, env.size)
    pitch = _pitch_salience(chroma_power, low_power, fsr, tuning, env.size)
    if silent:  # normalised envelopes of near-silence would be all noise
        env, bands = np.zeros_like(env), np.zeros_like(bands)

    downbeat_times = choice = None
    margins = {"bar_start": None, "bar_start_alternative": 0, "tempo_octave": None}
    if backend == "madmom" and not silent:
        from stemgen.analysis.madmom_backend import madmom_downbeats

        beat_times, downbeat_times, meter = madmom_downbeats(x, sample_rate)
        beat_frames = np.rint(beat_times * frame_rate).astype(int)
    elif backend in learned_beats.MODELS and not silent:
        from stemgen.analysis import learned_grid

        feats = decisions.GridFeatures.from_frames(frame_rate, env, bands, chroma, bass, bass_db)
        act = learned_beats.activations(logmel, learned_beats.MODELS[backend])
        bars = learned_beats.BARS[backend]
        # the DSP's grid choice: the rival grid of "evidence" bars, and the fallback below
        choice = decisions.grid_choice(feats, _tempo(env, frame_rate)) if bars == "evidence" else None
        beat_times, downbeat_times, meter, margins = learned_grid.learned_grid(
            act, feats, bars, spectral.sounding_span(y, fsr, SILENT_DB), None if choice is None else choice[0])
        beat_frames = np.rint(beat_times * frame_rate).astype(int)
    elif backend == "numpy" and not silent:
        feats = decisions.GridFeatures.from_frames(frame_rate, env, bands, chroma, bass, bass_db)
        beat_times, downbeat_times, meter, margins = _dsp_grid(feats, decisions.grid_choice(feats, _tempo(env, frame_rate)))
        beat_frames = np.rint(beat_times * frame_rate).astype(int)
    else:
        beat_times = _track(env, frame_rate, hop, backend) / frame_rate
        beat_frames = np.rint(beat_times * frame_rate).astype(int)
    tempo = beatlib.tempo_from_beats(beat_times)
    period = frame_rate * 60.0 / tempo if tempo > 0 else 0.0
    # Whether there is a pulse (``_clarity``); the learned tracker asks its network: the clarity of
    # its beat activation (reliability.activation_pulse).
    if beat_times.size < 2:
        confidence = 0.0
    elif backend in learned_beats.MODELS and not silent:
        confidence = activation_pulse(act[0], frame_rate)
    else:
        confidence = _clarity(env, period)
    if backend in learned_beats.MODELS and choice is not None and confidence < MIN_ACTIVATION_PULSE:
        # The network hears no clear pulse where the DSP's grid has one (a steady test song without
        # drums: activation 0.14-0.16, the DSP 0.36-0.48): follow the DSP's grid, judged on its own
        # scale, rather than refuse; noise and free time stay under both (reliability's tests).
        dsp = _dsp_grid(feats, choice)
        dsp_tempo = beatlib.tempo_from_beats(dsp[0])
        dsp_confidence = _clarity(env, frame_rate * 60.0 / dsp_tempo) if dsp_tempo > 0 else 0.0
        if dsp_confidence >= MIN_BEAT_CONFIDENCE:
            beat_times, downbeat_times, meter, margins = dsp
            tempo, confidence, backend = dsp_tempo, dsp_confidence, "numpy"

    if downbeat_times is None:
        accents = dblib.beat_accents(beat_frames, bands[0], chroma)
        meter, phase, _ = dblib.meter_and_phase(accents)
        downbeat_times = beat_times[dblib.downbeat_indices(beat_times.size, meter, phase)]
    key = None if silent else find_key(chroma.sum(axis=1))
    return Analysis(
        sample_rate=sample_rate, duration_s=duration, silent=silent,
        beat_times=beat_times, downbeat_times=np.asarray(downbeat_times, dtype=np.float64),
        tempo_bpm=tempo, tempo_curve=beatlib.tempo_curve(beat_times), meter=int(meter), key=key,
        chords=beat_chords(chroma, bass, frame_rate, beat_times, duration), beat_confidence=confidence,
        backend=backend, frame_rate=frame_rate, onset_env=env, band_onsets=bands, chroma=chroma,
        bass_chroma=bass, bass_db=bass_db, pitch_salience=pitch, audio=y, feature_sr=fsr,
        bar_start_margin=margins["bar_start"], bar_start_alternative=margins["bar_start_alternative"],
        tempo_octave_margin=margins["tempo_octave"],
    )


def beat_chords(chroma: np.ndarray, bass: np.ndarray, frame_rate: float, beat_times: np.ndarray,
                duration: float) -> list[str]:
    """Chord label per beat interval from frame chroma and bass chroma."""
    if not beat_times.size:
        return []
    frame_times = np.arange(chroma.shape[1]) / frame_rate
    beat_chroma = chordlib.beat_synchronous(chroma, frame_times, beat_times, duration)
    beat_bass = chordlib.beat_synchronous(bass, frame_times, beat_times, duration)
    return chordlib.chord_labels(beat_chroma, beat_bass=beat_bass)


def analysis_params() -> tuple[int, int, int]:
    """(rate, n_fft, hop) of every analysis: 22.05 kHz whatever the input's rate (lower rates are
    resampled up), so a 16 kHz clip is analysed like a 44.1 kHz one (at 16 kHz with a 512-point
    STFT, a click's abrupt end read as a second onset)."""
    return spectral.MAX_FEATURE_SR, spectral.REF_N_FFT, spectral.REF_HOP // HOP_DIVISOR


def _track(env: np.ndarray, frame_rate: float, hop: int, backend: str) -> np.ndarray:
    if env.size < 8 or not np.any(env > 0):
        return np.zeros(0, dtype=int)
    if backend == "librosa":
        return beatlib.track_beats_librosa(env, frame_rate, hop)
    return np.zeros(0, dtype=int)  # numpy or learned on silence: nothing to track


def _dsp_grid(feats, choice: tuple[np.ndarray, float | None]) -> tuple[np.ndarray, np.ndarray, int, dict]:
    """The DSP tracker's ``(beats, downbeats, meter, margins)`` from its grid ``choice``
    (``grid_decisions.grid_choice``: beats and tempo-octave margin): beat phase and bar phase chosen
    on explicit evidence (``grid_decisions``)."""
    beat_times, octave = choice
    beat_times, meter, phase = decisions.meter_and_beats(feats, beat_times)
    downbeat_times = beat_times[dblib.downbeat_indices(beat_times.size, meter, phase)]
    bar, alternative = decisions.bar_margin(feats, beat_times, meter, phase)
    return beat_times, downbeat_times, meter, {"bar_start": None if np.isnan(bar) else bar,
                                               "bar_start_alternative": alternative, "tempo_octave": octave}


def _clarity(env: np.ndarray, period: float) -> float:
    """Whether there is a pulse, not whether the grid chose its octave well: the clearest of the
    beat's level and its double and half (a wrong octave must not turn into a refusal)."""
    return max(pulse_clarity(env, period * f) for f in (1.0, 2.0, 0.5))


def _tempo(env: np.ndarray, frame_rate: float) -> float | np.ndarray:
    """The envelope's tempo: one BPM, or one per frame where the music changes tempo; 0 without a pulse."""
    if env.size < 8 or not np.any(env > 0):
        return 0.0
    bpm = beatlib.refine_tempo(env, frame_rate, beatlib.estimate_tempo(env, frame_rate))
    if bpm <= 0:
        return 0.0
    varying = beatlib.local_tempo(env, frame_rate, bpm)
    return bpm if varying is None else varying


def _onset_envelopes(logmel: np.ndarray, fsr: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole-band onset strength (librosa.onset.onset_strength) and (3, frames) band strengths."""
    import librosa

    # center=False: the spectrogram is already centred (see spectral.onset_envelope).
    env = librosa.onset.onset_strength(S=logmel, sr=fsr, center=False).astype(np.float32)
    freqs = spectral.mel_frequencies(fsr)
    edges = [0, int(np.searchsorted(freqs, LOW_HZ)), int(np.searchsorted(freqs, HIGH_HZ)), freqs.size]
    bands = librosa.onset.onset_strength_multi(S=logmel, sr=fsr, channels=edges, center=False).astype(np.float32)
    return env, bands[:, : env.size]


def _low_band_power(y: np.ndarray, fsr: int, hop: int) -> np.ndarray:
    """|STFT|^2 (bins, frames) of a 1.4 kHz copy (1.35 Hz bins), on the analysis' frame grid."""
    low = spectral.decimate(y, fsr, fsr / BASS_DECIMATION)
    return spectral.magnitude_spectrum(low, BASS_N_FFT, max(hop // BASS_DECIMATION, 1)) ** 2


def _bass_chroma(low_power: np.ndarray, fsr: int, tuning: float, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(12, frames) chroma of 27.5-160 Hz from ``_low_band_power``, and the band's level (dBFS) per frame."""
    freqs = np.arange(low_power.shape[0]) * (fsr / BASS_DECIMATION) / BASS_N_FFT
    band = (freqs >= BASS_FMIN) & (freqs <= BASS_FMAX)
    midi = 69.0 + 12.0 * np.log2(freqs[band] / 440.0) - tuning
    pc = np.rint(midi).astype(int) % 12
    weight = np.clip(1.0 - 2.0 * np.abs(midi - np.rint(midi)), 0.0, 1.0)  # 1 on a note, 0 between
    power = low_power[band]
    out = np.zeros((12, low_power.shape[1]), dtype=np.float32)
    np.add.at(out, pc, power * weight[:, None])
    # Parseval: power in the band -> mean square of the band signal (Hann window sum = n/2).
    ms = 2.0 * power.sum(axis=0) / (BASS_N_FFT * (BASS_N_FFT / 2.0))
    level = 10.0 * np.log10(np.maximum(ms, 1e-12))
    return _fit(out, n_frames), _fit(level[None], n_frames)[0]


def _pitch_salience(chroma_power: np.ndarray, low_power: np.ndarray, fsr: int, tuning: float,
                    n_frames: int) -> np.ndarray:
    """(N_PITCH, frames) RMS amplitude per semitone, MIDI PITCH_LOW.. (bass STFT below PITCH_SPLIT).

    Power (not magnitude) is summed over each semitone's bins, weighted by closeness to its centre
    (``spectral.semitone_basis``), and scaled by Parseval to a mean square: a sine reads its RMS in
    its channel in both STFTs, whatever the bin spacing, and broadband noise does not grow with the
    number of bins a semitone spans as summed magnitudes would. The square root (amplitude) is a
    mild compression: on 4 rendered test-split songs (tests/test_analysis.py) the per-step profile
    correlated with the MIDI side's 0.58 (power 0.57, log-amplitude 0.41: lifts harmonics and noise).
    """
    low = spectral.semitone_mean_square(low_power, fsr / BASS_DECIMATION, BASS_N_FFT, tuning, PITCH_LOW, PITCH_SPLIT)
    high = spectral.semitone_mean_square(chroma_power, fsr, CHROMA_N_FFT, tuning, PITCH_SPLIT, PITCH_LOW + N_PITCH)
    return np.sqrt(np.concatenate([_fit(low, n_frames), _fit(high, n_frames)])).astype(np.float32)


def _fit(a: np.ndarray, n: int) -> np.ndarray:
    """Crop or edge-pad ``(rows, m)`` to ``n`` frames (rounding makes the STFTs differ by one)."""
    if a.shape[1] >= n:
        return a[:, :n]
    return np.pad(a, ((0, 0), (0, n - a.shape[1])), mode="edge") if a.shape[1] else np.zeros((a.shape[0], n), a.dtype)
