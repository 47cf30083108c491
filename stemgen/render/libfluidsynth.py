"""A thin ctypes binding to the parts of libfluidsynth the renderer needs.

Why not pyfluidsynth's ``Synth``: it only reads audio back as interleaved int16
(``fluid_synth_write_s16``) and has no way to ask for separate output groups, which is what
lets one synth instance render every family to its own stem in a single pass. The shared
library is the same one pyfluidsynth loads (Debian ``libfluidsynth3``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from stemgen.errors import MissingDependencyError

_CANDIDATES = ("libfluidsynth.so.3", "libfluidsynth.so.2", "libfluidsynth.3.dylib", "libfluidsynth-3.dll")
_V, _I, _D, _S = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p

# name: (restype, argtypes)
_SIGNATURES = {
    "fluid_version_str": (_S, []),
    "fluid_set_log_function": (_V, [_I, _V, _V]),
    "new_fluid_settings": (_V, []),
    "delete_fluid_settings": (None, [_V]),
    "fluid_settings_setint": (_I, [_V, _S, _I]),
    "fluid_settings_setnum": (_I, [_V, _S, _D]),
    "new_fluid_synth": (_V, [_V]),
    "delete_fluid_synth": (None, [_V]),
    "fluid_synth_sfload": (_I, [_V, _S, _I]),
    "fluid_synth_set_interp_method": (_I, [_V, _I, _I]),
    "fluid_synth_system_reset": (_I, [_V]),
    "fluid_synth_get_active_voice_count": (_I, [_V]),
    "fluid_synth_set_channel_type": (_I, [_V, _I, _I]),
    "fluid_synth_bank_select": (_I, [_V, _I, _I]),
    "fluid_synth_program_change": (_I, [_V, _I, _I]),
    "fluid_synth_noteon": (_I, [_V, _I, _I, _I]),
    "fluid_synth_noteoff": (_I, [_V, _I, _I]),
    "fluid_synth_cc": (_I, [_V, _I, _I, _I]),
    "fluid_synth_pitch_bend": (_I, [_V, _I, _I]),
    # process(synth, len, nfx, fx**, nout, out**): ADDS into the buffers, so passing one mono
    # buffer as both left and right of a group sums the stereo pair for free.
    "fluid_synth_process": (_I, [_V, _I, _I, _V, _I, _V]),
}
CHANNEL_TYPE_MELODIC, CHANNEL_TYPE_DRUM = 0, 1
LOG_PANIC, LOG_ERR, LOG_WARN, LOG_INFO, LOG_DBG = range(5)


@functools.lru_cache(maxsize=1)
def lib() -> ctypes.CDLL:
    """The loaded library with argument types declared; ``MissingDependencyError`` if absent."""
    names = [n for n in (ctypes.util.find_library("fluidsynth"),) if n] + list(_CANDIDATES)
    handle = None
    for name in names:
        try:
            handle = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if handle is None:
        raise MissingDependencyError(
            "libfluidsynth not found: `apt-get install libfluidsynth3` (Debian/Ubuntu), "
            "`brew install fluid-synth` (macOS) or `conda install -c conda-forge fluidsynth`"
        )
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(handle, name)
        fn.restype, fn.argtypes = restype, argtypes
    # Missing presets (e.g. a drum kit a SoundFont lacks) are substituted with a warning on
    # stderr for every song; keep errors only.
    for level in (LOG_WARN, LOG_INFO, LOG_DBG):
        handle.fluid_set_log_function(level, None, None)
    return handle


def version() -> str:
    return lib().fluid_version_str().decode()
