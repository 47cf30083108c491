"""Drummer profiles (issue 19): how much a take plays the toms and the ride, drawn from real drummers.

The drum model's own tom and ride probabilities do not tell which songs use them (rank correlation
with the real parts' use -0.04 and -0.48 on the valid split), so decoding them gives every song the
same few toms and no ride, while real drummers differ: on the band data's train split a third of
the parts play no tom, a sixth play more than one a bar (tom grooves), and one in eight rides
through most of the song. A take instead draws one real drummer's habits from the train split
(``band_drummers.json``: each part's toms per playing bar and ride share of its time-keeping hits)
by its seed and the song, so takes differ and the population of takes plays toms and ride as often
as the real drummers do (a model's ``decode.drummers`` names the habits it draws: the MIDI drum
model draws the toms only, as a ride drawn this way cost 0.04 of the valid F1); the instruction's words (``toms``, ``ride``, ``jazz``, ``hi-hat``, ...) set them
where the user asks. ``drum_form.decode_drums`` plays the profile: fills with or without toms,
toms added to the groove of a tom-heavy drummer, the ride instead of the closed hi-hat in the
loudest sections up to the drummer's ride share.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DRUMMERS_PATH = Path(__file__).with_name("band_drummers.json")
# Words that set the profile (first match wins per habit): a tom or ride the user asks for, or none.
NO_TOMS = re.compile(r"\b(no|without)\s+toms?\b", re.IGNORECASE)
TOMS = re.compile(r"\b(toms?|tom[- ]fills?|tom[- ]heavy|tribal|floor[- ]tom)\b", re.IGNORECASE)
RIDE = re.compile(r"\b(ride|jazz\w*|swing\w*|bebop)\b", re.IGNORECASE)
HATS = re.compile(r"\b(hi-?hats?|hats|no\s+ride)\b", re.IGNORECASE)
ASKED_TOMS = 0.9  # quantile of the real drummers' toms per bar a take plays when the user asks for toms


@dataclass(frozen=True)
class DrummerProfile:
    """One take's habits: ``toms_per_bar`` (a real drummer's, over the bars the drums play) and
    ``ride_share`` (the share of the time-keeping hits that drummer plays on the ride); ``None``:
    not set, the decoder's own way (``drum_form.DrumForm``)."""

    toms_per_bar: float | None = None
    ride_share: float | None = None


@lru_cache(maxsize=1)
def load_drummers(path: str | Path = DRUMMERS_PATH) -> np.ndarray:
    """(n, 2) toms per bar and ride share of the real drummers (``band_drummers.json``)."""
    return np.asarray(json.loads(Path(path).read_text())["drummers"], np.float64).reshape(-1, 2)


def song_key(context: np.ndarray) -> int:
    """A number of the song's context (its bytes' CRC-32), so one seed gives each song its own drummer."""
    return zlib.crc32(np.ascontiguousarray(context, np.float32).tobytes())


def draw_profile(seed: int, instruction: str = "", song: int = 0, habits=("toms", "ride"),
                 drummers: np.ndarray | None = None) -> DrummerProfile:
    """The profile of the take of ``seed`` for the song ``song`` (``song_key``): the ``habits``
    (``"toms"``, ``"ride"``) of one real drummer drawn from ``drummers`` (default: the train
    split's; a habit not drawn is ``None``: the decoder's own), then the instruction's words (module docstring) on top.
    The same seed and song give the same drummer."""
    pool = load_drummers() if drummers is None else np.asarray(drummers, np.float64)
    toms, ride = (float(x) for x in pool[np.random.default_rng([seed, 19, song]).integers(len(pool))])
    toms, ride = (toms if "toms" in habits else None), (ride if "ride" in habits else None)
    text = instruction or ""
    if NO_TOMS.search(text):
        toms = 0.0
    elif TOMS.search(text):
        toms = max(toms or 0.0, float(np.quantile(pool[:, 0], ASKED_TOMS)))
    if HATS.search(text):
        ride = 0.0
    elif RIDE.search(text):
        ride = 1.0
    return DrummerProfile(toms, ride)


def measure_drummers(folder: str | Path, split: str = "train") -> dict:
    """Toms per playing bar and ride share of every drum part of ``split`` in the band MIDI
    ``folder`` (parts with fewer than 4 playing bars left out), as ``form_metrics`` counts them."""
    from .evaluate import load_song
    from .form_metrics import as_array, bar_bounds, bars_playing, form_metrics
    from .splits import files_in_split

    rows = []
    for path in files_in_split(folder, split):
        song = load_song(path)
        part = song.real["drums"]
        if len(part) == 0 or bars_playing(as_array(part), bar_bounds(song.grid)).sum() < 4:
            continue
        m = form_metrics(part, part, song.grid, "drums", sections=np.zeros(0, np.int64))
        ride = m["ride_share"] if np.isfinite(m["ride_share"]) else 0.0
        rows.append([round(float(m["toms_per_bar"]), 3), round(float(ride), 3)])
    return {"source": f"the drum parts of the band MIDI data's {split!r} split ({len(rows)} parts with at least "
                      "4 playing bars); data licence CC BY-NC-SA (see the data folder's LICENSE)",
            "command": "python -c 'from stemgen.midi.drummers import write_drummers; "
                       "write_drummers(\"../shared/data/tegridy_band_midi_nc\")'",
            "columns": ["toms_per_bar", "ride_share"], "drummers": rows}


def write_drummers(folder: str | Path, out: str | Path = DRUMMERS_PATH) -> dict:
    from stemgen.fileio import atomic_write_bytes

    table = measure_drummers(folder)
    atomic_write_bytes(Path(out), (json.dumps(table) + "\n").encode())
    load_drummers.cache_clear()
    return table
