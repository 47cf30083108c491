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


def compose_song(seed: int, drums: pretty_midi.PrettyMIDI | None = None) -> pretty_midi.PrettyMIDI:
    """A song composed by ``seed``: over ``drums`` (a Groove MIDI file: its tempo, 4/4, its length)
    or on its own (``meter`` 4 or 3, 55-190 BPM, 40 s)."""
    rng = np.random.default_rng(seed)
    if drums is not None:
        bpm, meter = float(drums.get_tempo_changes()[1][0]), 4
        length = drums.get_end_time()
    else:
        bpm, meter = float(np.exp(rng.uniform(np.log(55), np.log(190)))), int(rng.choice([4, 4, 3]))
        length = 40.0
    beat = 60.0 / bpm
    n_bars = int(np.ceil(length / (meter * beat)))
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    pm.time_signature_changes = [pretty_midi.TimeSignature(meter, 4, 0.0)]
    if drums is not None:
        kit = pretty_midi.Instrument(0, is_drum=True, name="drums")
        kit.notes = [n for inst in drums.instruments if inst.is_drum for n in inst.notes]
        pm.instruments.append(kit)
    elif meter == 3 and rng.random() < 0.5:
        pm.instruments.append(waltz_kit(rng, n_bars, beat))
    tonic = int(rng.integers(12))
    scale = MAJOR if rng.random() < 0.6 else MINOR
    chords = progression(rng, n_bars, meter)  # (start beat, degree)
    song = Song(rng, beat, meter, n_bars, tonic, scale, chords)
    pm.instruments.append(song.bass(int(rng.choice(BASSES))))
    guitar_first = rng.random() < 0.65
    comps = [GUITARS if guitar_first else PIANOS] + ([PIANOS if guitar_first else GUITARS] if rng.random() < 0.3 else [])
    for programs in comps:
        pm.instruments.append(song.comp(int(rng.choice(programs))))
    if rng.random() < 0.5:
        pm.instruments.append(song.melody(int(rng.choice(MELODIES))))
    return pm


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

    def __init__(self, rng, beat_s, meter, n_bars, tonic, scale, chords):
        self.rng, self.beat_s, self.meter, self.n_bars = rng, beat_s, meter, n_bars
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

    def note(self, inst, beat: float, length_beats: float, pitch: int, velocity: float) -> None:
        """A note at ``beat`` (from the song's start), human-jittered in time and velocity."""
        t = max(beat * self.beat_s + self.rng.normal(0.0, TIMING_MS / 1000), 0.0)
        accent = 10 if beat % self.meter == 0 else (4 if beat % 1 == 0 else 0)
        v = int(np.clip(velocity + accent + self.rng.normal(0, 5), 20, 127))
        inst.notes.append(pretty_midi.Note(v, int(pitch), t, t + max(length_beats * self.beat_s * 0.9, 0.05)))

    def bass(self, program: int) -> pretty_midi.Instrument:
        inst = pretty_midi.Instrument(program, name="bass")
        onsets, values = BASS_RHYTHMS[self.meter][int(self.rng.integers(len(BASS_RHYTHMS[self.meter])))]
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
                        self.note(inst, b0 + o + j * 0.012 / self.beat_s, min(nxt - o, 1.0), p, 75)  # a strum
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


def waltz_kit(rng: np.random.Generator, n_bars: int, beat_s: float) -> pretty_midi.Instrument:
    """A plain 3/4 kit: kick on one, snare on two and three (or hi-hat 8ths), jittered."""
    kit = pretty_midi.Instrument(0, is_drum=True, name="drums")
    hats = rng.random() < 0.5
    for bar in range(n_bars):
        for k in range(6 if hats else 3):
            b = bar * 3 + (k / 2 if hats else k)
            t = max(b * beat_s + rng.normal(0, 0.006), 0.0)
            pitches = ([36] if b % 3 == 0 else ([38] if b % 1 == 0 and not hats else [])) + ([42] if hats else [])
            for p in pitches:
                kit.notes.append(pretty_midi.Note(int(np.clip(90 + rng.normal(0, 8), 30, 127)), p, t, t + 0.1))
    return kit
