"""Which (bank, program) presets a SoundFont file holds, read from its ``phdr`` chunk.

Why here: FluidSynth silently substitutes a missing preset (the renderer mutes its warnings), so
a kit the SoundFont lacks would play as something else without anyone knowing. Reading the
preset headers is cheap (no samples are loaded) and works for .sf2 and .sf3 alike.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

from stemgen.errors import StemgenInputError

_PHDR_SIZE = 38  # name[20], preset u16, bank u16, bag index u16, library/genre/morphology u32 x3


@functools.lru_cache(maxsize=8)
def soundfont_presets(path: str | Path) -> dict[tuple[int, int], str]:
    """``{(bank, program): preset name}``; ``StemgenInputError`` if the file is not a SoundFont."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise StemgenInputError(path, "not a SoundFont (no RIFF sfbk header)")
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                break
            kind, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
            if kind == b"LIST" and f.read(4) == b"pdta":
                return _read_phdr(f, size - 4, path)
            # Sizes are taken as they are: .sf3 files skip RIFF's pad byte after odd chunks.
            f.seek(size - (4 if kind == b"LIST" else 0), 1)
    raise StemgenInputError(path, "SoundFont has no preset headers (pdta/phdr)")


def _read_phdr(f, length: int, path: Path) -> dict[tuple[int, int], str]:
    end = f.tell() + length
    while f.tell() + 8 <= end:
        hdr = f.read(8)
        kind, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        if kind != b"phdr":
            f.seek(size, 1)
            continue
        data = f.read(size)
        out = {}
        for i in range(0, len(data) - _PHDR_SIZE, _PHDR_SIZE):  # the last record is the EOP terminator
            name = data[i : i + 20].split(b"\0")[0].decode("latin-1").strip()
            program, bank = struct.unpack("<HH", data[i + 20 : i + 24])
            out[(bank, program)] = name
        return out
    raise StemgenInputError(path, "SoundFont has no preset headers (phdr)")
