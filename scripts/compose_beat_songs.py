"""Code-composed band songs for training the commercial-safe beat tracker (``train_beat_tracker.py collect --synthetic``).

``compose_song(seed, drums=None)``: a ``pretty_midi.PrettyMIDI`` with a random diatonic chord
progression (a chord a bar, or a half bar in 4/4; changes on bar lines or half bars), a bass line
(roots, fifths and octaves on one of a vocabulary of rhythms), a comping part (guitar or piano:
strums on the beat, 8ths, off-beat skanks, syncopated pop patterns, arpeggios or sustained pads),
sometimes a second comp of the other instrument and a sparse melody; small human timing and velocity
jitter, the downbeat a little louder. Over a Groove MIDI performance (``drums``: its drum notes and
tempo, CC BY 4.0) the song follows the performance's bars (4/4 at its tempo); without one, the meter
is 4/4 or 3/4, the tempo log-uniform in 55-190 BPM, and 3/4 songs get a plain code-composed waltz kit
half the time. Every note is composed here: no third-party notes but Groove MIDI's drums.

``compose_song(seed, tempo_changes=True)`` (drum-less songs only: Groove MIDI's drummers played to a
click): the tempo changes on the way (``tempo_curve``): a step at a bar line (3:2, 4:3, 3:4 or 2:3), a
ramp of 3-10 % over 2-8 bars, a slow drift of a few % (rubato-ish), or a step and a drift; half of
these songs get a plain code-composed kit (4/4 or 3/4). The tempo is constant within each beat and
written to the MIDI tempo map (``TempoMap``), and every note is placed through the same map, so the
beats read from the file are exactly the song's.
"""

from __future__ import annotations

import numpy as np
import pretty_midi

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# Chord degrees (0-based scale steps) a progression draws from, the tonic twice as likely.
DEGREES = (0, 0, 1, 2, 3, 4, 5, 6)
# Rhythms in beats from the bar's start, per meter: (onsets, note values as "root", "fifth", "octave").
BASS_RHYTHMS = {
    4: (((0,), "r"), ((0, 2), "rf"), ((0, 1, 2, 3), "rrfr"), ((0, 1, 2, 3), "rfor"),
        (tuple(np.arange(8) / 2), "rrrrffrr"), (tuple(np.arange(8) / 2), "rorofofo"),
        ((0, 1.5, 2.5, 3), "rrfr"), ((0, 0.75, 1.5, 2, 3.5), "rrfro"), ((0, 2.5, 3), "rfo")),
    3: (((0,), "r"), ((0, 1, 2), "rff"), ((0, 2), "rf"), (tuple(np.arange(6) / 2), "rrffoo"), ((0, 1.5, 2), "rfr")),
}
COMP_RHYTHMS = {  # onsets in beats; "pad": one chord a bar; "arp": chord tones one at a time
    4: ((0, 1, 2, 3), tuple(np.arange(8) / 2), (0.5, 1.5, 2.5, 3.5), (1, 3), (0, 1.5, 3),
        (0, 0.75, 1.5, 2, 2.5, 3.25), (0, 1.5, 2.5, 3.5), "pad", "arp"),
    3: ((0, 1, 2), (1, 2), tuple(np.arange(6) / 2), (0, 1.5), "pad", "arp"),
}
GUITARS, PIANOS = (24, 25, 26, 27, 28, 29, 30), (0, 1, 2, 4, 5, 16, 17)
BASSES = (32, 33, 34, 35, 36, 37, 38)
MELODIES = (40, 56, 64, 65, 71, 73, 80, 81, 52)
TIMING_MS = 8.0  # standard deviation of the parts' onsets around the grid
MIN_BPM, MAX_BPM = 55.0, 190.0  # the drum-less songs' tempi (the tracker's range is 55-215)
STEP_RATIOS = (1.5, 4 / 3, 0.75, 2 / 3)  # tempo steps at a bar line
CHANGE_KINDS = ("step", "ramp", "drift", "step+drift")
CHANGE_WINDOW_S = (6.0, 22.0)  # where a step or a ramp starts (the collection renders the first 30 s)


class TempoMap:
    """Seconds of a (fractional) beat position when beat ``k`` lasts ``60 / bpms[k]`` s (the tempo
    constant within each beat; after the last beat, the last tempo)."""

    def __init__(self, bpms):
        self.bpms = np.asarray(bpms, dtype=np.float64)
        self.starts = np.concatenate([[0.0], np.cumsum(60.0 / self.bpms)])

    def seconds(self, beat: float) -> float:
        k = int(min(max(np.floor(beat), 0), self.bpms.size - 1))
        return float(self.starts[k] + (beat - k) * 60.0 / self.bpms[k])

    def write(self, pm: pretty_midi.PrettyMIDI) -> None:
        """Put the map into ``pm``'s tempo events (one where the tempo changes, at the beat's tick)."""
        res = pm.resolution
        changes = [k for k in range(self.bpms.size) if k == 0 or self.bpms[k] != self.bpms[k - 1]]
        pm._tick_scales = [(k * res, 60.0 / (self.bpms[k] * res)) for k in changes]  # pretty_midi's tempo map
        pm._update_tick_to_time((self.bpms.size + 1) * res)


def tempo_curve(rng: np.random.Generator, bpm: float, meter: int, n_beats: int, kind: str) -> np.ndarray:
    """(n_beats,) tempo of each beat, starting at ``bpm``: ``kind`` one of ``CHANGE_KINDS`` ("step": the
    tempo times a ``STEP_RATIOS`` ratio from a bar line inside ``CHANGE_WINDOW_S``, the ratios that keep
    it within ``MIN_BPM``-``MAX_BPM``; "ramp": a linear change of 3-10 % up or down over 2-8 bars from
    such a bar line, then held; "drift": a smoothed random walk, at most 4 % from ``bpm``)."""
    bpms = np.full(n_beats, float(bpm))
    beat_s = 60.0 / bpm
    lo, hi = (int(t / (meter * beat_s)) for t in CHANGE_WINDOW_S)
    bar = int(rng.integers(max(lo, 1), max(hi, lo + 1, 2)))
    at = min(bar * meter, n_beats - 1)
    if kind.startswith("step"):
        ratios = [r for r in STEP_RATIOS if MIN_BPM <= bpm * r <= MAX_BPM]
        bpms[at:] *= float(rng.choice(ratios)) if ratios else 1.0
    elif kind == "ramp":
        length = int(rng.integers(2, 9)) * meter
        change = float(rng.uniform(0.03, 0.10)) * float(rng.choice([-1.0, 1.0]))
        ramp = 1.0 + change * np.clip((np.arange(n_beats) - at + 1) / length, 0.0, 1.0)
        bpms = np.clip(bpms * ramp, MIN_BPM, MAX_BPM)
    if kind.endswith("drift"):
        walk = np.cumsum(rng.normal(0.0, 1.0, n_beats))
        walk = np.convolve(walk - walk.mean(), np.ones(8) / 8, mode="same")
        bpms = bpms * (1.0 + 0.04 * walk / max(np.abs(walk).max(), 1e-9))
    return bpms


def compose_song(seed: int, drums: pretty_midi.PrettyMIDI | None = None,
                 tempo_changes: bool = False, pulse: bool = False) -> pretty_midi.PrettyMIDI:
    """A song composed by ``seed``: over ``drums`` (a Groove MIDI file: its tempo, 4/4, its length)
    or on its own (``meter`` 4 or 3, 55-190 BPM, 40 s; ``tempo_changes``: the tempo changes on the
    way, ``tempo_curve``; the same seed without it draws the same song as before it existed).
    ``pulse`` (drum-less): a bare pulse instead of a band, one note on every beat (``Song.pulse``),
    half the time over a bass holding each chord's root."""
    if (tempo_changes or pulse) and drums is not None:
        raise ValueError("tempo changes and pulses are composed for drum-less songs only (Groove MIDI keeps its click)")
    rng = np.random.default_rng(seed)
    meter, n_bars, tempo = song_grid(rng, seed, drums, tempo_changes)
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(tempo.bpms[0]))
    if tempo_changes:
        tempo.write(pm)
    pm.time_signature_changes = [pretty_midi.TimeSignature(meter, 4, 0.0)]
    if pulse:
        song = Song(rng, tempo, meter, n_bars, int(rng.integers(12)), MAJOR if rng.random() < 0.6 else MINOR,
                    progression(rng, n_bars, meter))
        pm.instruments.append(song.pulse(int(rng.choice(GUITARS + PIANOS + MELODIES))))
        if rng.random() < 0.5:
            pm.instruments.append(song.bass(int(rng.choice(BASSES)), rhythm=BASS_RHYTHMS[meter][0]))
        return pm
    if drums is not None:
        kit = pretty_midi.Instrument(0, is_drum=True, name="drums")
        kit.notes = [n for inst in drums.instruments if inst.is_drum for n in inst.notes]
        pm.instruments.append(kit)
    elif (meter == 3 or tempo_changes) and rng.random() < 0.5:
        pm.instruments.append(plain_kit(rng, n_bars, meter, tempo))
    tonic = int(rng.integers(12))
    scale = MAJOR if rng.random() < 0.6 else MINOR
    chords = progression(rng, n_bars, meter)  # (start beat, degree)
    song = Song(rng, tempo, meter, n_bars, tonic, scale, chords)
    pm.instruments.append(song.bass(int(rng.choice(BASSES))))
    guitar_first = rng.random() < 0.65
    comps = [GUITARS if guitar_first else PIANOS] + ([PIANOS if guitar_first else GUITARS] if rng.random() < 0.3 else [])
    for programs in comps:
        pm.instruments.append(song.comp(int(rng.choice(programs))))
    if rng.random() < 0.5:
        pm.instruments.append(song.melody(int(rng.choice(MELODIES))))
    return pm


def song_grid(rng: np.random.Generator, seed: int, drums: pretty_midi.PrettyMIDI | None,
              tempo_changes: bool) -> tuple[int, int, TempoMap]:
    """(meter, bars, tempo map) of ``compose_song``'s song (drawn first from its ``rng``; the tempo
    changes from their own stream, so that the rest of the song is drawn as without them)."""
    if drums is not None:
        bpm, meter = float(drums.get_tempo_changes()[1][0]), 4
        length = drums.get_end_time()
    else:
        bpm, meter = float(np.exp(rng.uniform(np.log(MIN_BPM), np.log(MAX_BPM)))), int(rng.choice([4, 4, 3]))
        length = 40.0
    n_bars = int(np.ceil(length / (meter * 60.0 / bpm)))
    bpms = np.full(n_bars * meter, bpm)
    if tempo_changes:
        trng = np.random.default_rng([seed, 1])
        bpms = tempo_curve(trng, bpm, meter, n_bars * meter, str(trng.choice(CHANGE_KINDS)))
    return meter, n_bars, TempoMap(bpms)


def progression(rng: np.random.Generator, n_bars: int, meter: int) -> list[tuple[float, int]]:
    """(start beat, scale degree) of each chord: a 4- or 8-bar loop with a chord a bar, or a half bar
    (4/4, a third of songs), the tonic first; loops repeat, so bar lines carry the changes."""
    half = meter == 4 and rng.random() < 0.33
    per_bar = 2 if half else 1
    loop = [0] + [int(rng.choice(DEGREES)) for _ in range(int(rng.choice([4, 8])) * per_bar - 1)]
    step = meter / per_bar
    return [(i * step, loop[i % len(loop)]) for i in range(n_bars * per_bar)]


class Song:
    """The shared harmony and grid of one song; each part method returns a ``pretty_midi.Instrument``."""

    def __init__(self, rng, tempo: TempoMap, meter, n_bars, tonic, scale, chords):
        self.rng, self.tempo, self.meter, self.n_bars = rng, tempo, meter, n_bars
        self.tonic, self.scale, self.chords = tonic, scale, chords

    def chord_at(self, beat: float) -> int:
        starts = [c[0] for c in self.chords]
        return self.chords[max(int(np.searchsorted(starts, beat, side="right")) - 1, 0)][1]

    def pitch(self, degree: int, octave_low: int) -> int:
        """The scale degree's pitch at or above ``octave_low``."""
        pc = (self.tonic + self.scale[degree % 7]) % 12
        return octave_low + (pc - octave_low) % 12

    def triad(self, degree: int, low: int) -> list[int]:
        root = self.pitch(degree, low)
        return [root + (self.pitch(degree + k, 0) - self.pitch(degree, 0)) % 12 for k in (0, 2, 4)]

    def note(self, inst, beat: float, length_beats: float, pitch: int, velocity: float, delay_s: float = 0.0) -> None:
        """A note at ``beat`` (from the song's start; ``delay_s`` later: a strum's later strings, not
        accented), human-jittered in time and velocity."""
        t = max(self.tempo.seconds(beat) + delay_s + self.rng.normal(0.0, TIMING_MS / 1000), 0.0)
        accent = 0 if delay_s else (10 if beat % self.meter == 0 else (4 if beat % 1 == 0 else 0))
        v = int(np.clip(velocity + accent + self.rng.normal(0, 5), 20, 127))
        length_s = self.tempo.seconds(beat + length_beats) - self.tempo.seconds(beat)
        inst.notes.append(pretty_midi.Note(v, int(pitch), t, t + max(length_s * 0.9, 0.05)))

    def bass(self, program: int, rhythm=None) -> pretty_midi.Instrument:
        """Roots, fifths and octaves on ``rhythm`` (``BASS_RHYTHMS``; ``None``: a random one)."""
        inst = pretty_midi.Instrument(program, name="bass")
        onsets, values = rhythm or BASS_RHYTHMS[self.meter][int(self.rng.integers(len(BASS_RHYTHMS[self.meter])))]
        for bar in range(self.n_bars):
            for k, (o, val) in enumerate(zip(onsets, values)):
                b = bar * self.meter + o
                nxt = onsets[k + 1] if k + 1 < len(onsets) else self.meter
                root = self.pitch(self.chord_at(b), 31)
                p = {"r": root, "f": root + 7, "o": root + 12}[val]
                self.note(inst, b, nxt - o, p, 85)
        return inst

    def comp(self, program: int) -> pretty_midi.Instrument:
        inst = pretty_midi.Instrument(program, name="comp")
        rhythm = COMP_RHYTHMS[self.meter][int(self.rng.integers(len(COMP_RHYTHMS[self.meter])))]
        low = int(self.rng.integers(50, 60))
        for bar in range(self.n_bars):
            b0 = bar * self.meter
            if rhythm == "pad":
                for b in sorted({b0} | {c[0] for c in self.chords if b0 < c[0] < b0 + self.meter}):
                    end = min([c[0] for c in self.chords if c[0] > b] + [b0 + self.meter])
                    for p in self.triad(self.chord_at(b), low):
                        self.note(inst, b, end - b, p, 65)
            elif rhythm == "arp":
                for k in range(self.meter * 2):
                    tones = self.triad(self.chord_at(b0 + k / 2), low)
                    self.note(inst, b0 + k / 2, 0.5, (tones + [tones[0] + 12])[k % 4], 70)
            else:
                for k, o in enumerate(rhythm):
                    nxt = rhythm[k + 1] if k + 1 < len(rhythm) else self.meter
                    for j, p in enumerate(self.triad(self.chord_at(b0 + o), low)):
                        self.note(inst, b0 + o, min(nxt - o, 1.0), p, 75, j * 0.012)  # a strum
        return inst

    def pulse(self, program: int) -> pretty_midi.Instrument:
        """One note on every beat, a random tone of the beat's chord over an octave and a half, held
        half a beat to two beats (they overlap): a pulse with nothing else to tell the beat."""
        inst = pretty_midi.Instrument(program, name="comp")
        for b in range(self.n_bars * self.meter):
            tones = self.triad(self.chord_at(b), 55)
            p = int(self.rng.choice(tones + [t + 12 for t in tones]))
            self.note(inst, b, float(self.rng.uniform(0.5, 2.0)), p, 75)
        return inst

    def melody(self, program: int) -> pretty_midi.Instrument:
        """A sparse random walk on the scale, on 8ths, with rests; chord tones on the beat."""
        inst = pretty_midi.Instrument(program, name="melody")
        degree = int(self.rng.integers(7))
        for half in range(self.n_bars * self.meter * 2):
            b = half / 2
            if self.rng.random() < (0.45 if b % 1 == 0 else 0.2):
                degree += int(self.rng.choice([-2, -1, -1, 1, 1, 2]))
                if b % 1 == 0:  # on the beat: the nearest chord tone
                    root = self.chord_at(b)
                    degree = min((root + k for k in (0, 2, 4, 7, 9, 11)), key=lambda d: abs(d - degree))
                degree = int(np.clip(degree, -3, 10))
                self.note(inst, b, float(self.rng.choice([0.5, 1.0, 1.5])), self.pitch(degree % 7, 67) + 12 * (degree // 7), 80)
        return inst


def plain_kit(rng: np.random.Generator, n_bars: int, meter: int, tempo: TempoMap) -> pretty_midi.Instrument:
    """A plain kit, jittered: in 3/4 kick on one, snare on two and three (or hi-hat 8ths instead of the
    snare); in 4/4 kick on one and three, snare on two and four (and sometimes hi-hat 8ths)."""
    kit = pretty_midi.Instrument(0, is_drum=True, name="drums")
    hats = rng.random() < 0.5
    for bar in range(n_bars):
        for k in range(2 * meter if hats else meter):
            b = bar * meter + (k / 2 if hats else k)
            t = max(tempo.seconds(b) + rng.normal(0, 0.006), 0.0)
            kick = b % meter == 0 or (meter == 4 and b % meter == 2)
            snare = b % 1 == 0 and not kick and (meter == 4 or not hats)
            pitches = ([36] if kick else ([38] if snare else [])) + ([42] if hats else [])
            for p in pitches:
                kit.notes.append(pretty_midi.Note(int(np.clip(90 + rng.normal(0, 8), 30, 127)), p, t, t + 0.1))
    return kit
