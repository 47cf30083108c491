"""What the web page offers and the limits it enforces, in one place.

``UISettings`` is built by ``stemgen ui`` from its options and passed to ``build_app``; tests build
their own (small limits, a tmp work folder).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from stemgen.stems import STEMS

REPO = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO / "examples"
EXAMPLE_MIX = EXAMPLES_DIR / "mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"
# Each audio example lacks the part it adds: Sugar Plum Fairy (celesta and strings) has no drums,
# Vibe Ace (drums, bass, vibraphone) has no guitar. No bundled CC BY song lacks its bass.
EXAMPLE_MIXES = (
    (EXAMPLES_DIR / "mixes" / "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg", "drums",
     "Add soft acoustic drums to enhance emotion"),
    (EXAMPLE_MIX, "guitar", "Add clean strummed acoustic guitar"),
)
# Drums-only grooves: the natural inputs for "add a bass/guitar part".
EXAMPLE_MIDIS = (
    (EXAMPLES_DIR / "midi" / "1_funk-groove1_138_beat_4-4.mid", "bass", "Add a funky slap bass line"),
    (EXAMPLES_DIR / "midi" / "6_hiphop-groove6_87_beat_4-4.mid", "guitar", "Add a laid-back reggae guitar skank"),
)

# The instructions demonstrated in the paper (arXiv 2406.19328) for drums; bass and guitar get a few
# in the same style so the picker is never empty.
INSTRUCTIONS: dict[str, list[str]] = {
    "drums": [
        "Add rock drums",
        "Add indie drums with punchy beats",
        "Add reggae beats",
        "Add soft acoustic drums to enhance emotion",
        "Generate percussion with a lively Latin flair",
    ],
    "bass": [
        "Add a funky slap bass line",
        "Add a warm walking jazz bass",
        "Add a deep, steady rock bass following the kick",
    ],
    "guitar": [
        "Add distorted rock guitar riffs",
        "Add clean strummed acoustic guitar",
        "Add a laid-back reggae guitar skank",
    ],
}

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a")
MIDI_SUFFIXES = (".mid", ".midi")

# Sampler names accepted by ``StemInsertionPipeline`` (first = default).
SCHEDULERS = ("dpm", "ddim", "euler_a")

MODEL_BUNDLED = "Bundled model"
MODEL_LOCAL = "Local model folder"


@dataclass
class UISettings:
    """Limits and defaults of one running app.

    Attributes:
        max_file_mb: largest upload accepted (also passed to Gradio as ``max_file_size``).
        max_midi_mb: largest MIDI file accepted (MIDI files are tiny; a big one is a mistake).
        max_audio_seconds: longest audio accepted (generation time grows with length).
        max_midi_seconds: longest MIDI song accepted (generation is fast; the preview render is not).
        concurrency: generations running at once (each one keeps the CPU/GPU busy).
        queue_size: requests allowed to wait; more get a "queue is full" message.
        work_dir: parent of the per-request output folders.
        keep_outputs_s: output folders older than this are removed when a new request starts.
        models_dir: where bundled audio models live (``models/`` of the repository).
        model_folders: more models the page may use (``stemgen ui --models DIR``): each a model
            folder or a folder of model folders, read like ``stemgen models DIR``.
        allow_any_model_folder: let page users type the path of any model folder on the server
            (``--allow-any-model-folder``; off: only the listed models can be chosen).
        midi_models_dir: a folder laid out like ``models/midi/`` to use instead of the bundled
            MIDI models (``None``: the bundled ones).
        device: torch device for the audio model (``None``: CUDA when available, else CPU).
    """

    max_file_mb: float = 50.0
    max_midi_mb: float = 2.0
    max_audio_seconds: float = 300.0
    max_midi_seconds: float = 900.0
    concurrency: int = 1
    queue_size: int = 16
    work_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "stemgen-ui")
    keep_outputs_s: float = 3600.0
    models_dir: Path = REPO / "models"
    model_folders: tuple[Path, ...] = ()
    allow_any_model_folder: bool = False
    midi_models_dir: Path | None = None
    device: str | None = None
    stems: tuple[str, ...] = STEMS
