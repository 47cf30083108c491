"""The text of the ``README.md`` model card written next to every saved stem-insertion model
(``stemgen.cards`` writes it)."""

from __future__ import annotations

import json
from typing import Any

from stemgen.cards import front_matter


def render_model_card(meta: dict[str, Any], components: dict[str, str]) -> str:
    """Markdown with YAML front matter (Hugging Face card conventions) from stemgen metadata."""
    stem = meta.get("stem", "drums")
    target = meta.get("target", "stem")
    license_ = meta.get("license") or "other"
    codec = meta.get("codec", {})
    training = meta.get("training") or {}
    base = meta.get("base_model")
    front = front_matter({
        "license": license_ if _is_spdx_like(license_) else "other",
        "library_name": "diffusers",
        "pipeline_tag": "audio-to-audio",
        "tags": ["stemgen", "subtractive-training", "stem-insertion", stem],
        "base_model": base or None,
    })
    what = (
        f"generates the **{stem}** stem alone; the input audio is kept as it is and the new mix is input + stem"
        if target == "stem"
        else f"generates the **full mix with {stem}** (the paper's formulation); the stem is mix - input"
    )
    lines = [
        front,
        "",
        f"# stemgen {meta.get('preset', '')} model: add {stem}",
        "",
        "A text-guided spectrogram diffusion model trained with Subtractive Training (arXiv 2406.19328): "
        f"given a song without {stem} and an instruction (\"Add reggae beats\"), it {what}.",
        "",
        "## Use",
        "",
        "```bash",
        f'stemgen generate song.wav --stem {stem} --instruction "Add energetic {stem}" --model PATH_TO_THIS_FOLDER --out out/',
        "```",
        "",
        "```python",
        "from stemgen.pipelines import load_pipeline",
        "from stemgen.generation import generate_stem",
        "pipe = load_pipeline('PATH_TO_THIS_FOLDER')",
        f"result = generate_stem(pipe, 'song.wav', stem='{stem}', instruction='Add energetic {stem}', seed=0)",
        "```",
        "",
        "## Model",
        "",
        f"- Preset: `{meta.get('preset')}`; target: `{target}`; base model: `{base or 'none (trained from scratch)'}`",
        f"- Components: {', '.join(f'{k}: {v}' for k, v in components.items())}",
        "- Conditioning: InstructPix2Pix-style (context spectrogram concatenated at the UNet input; "
        "instruction through cross-attention); sample with two guidance scales (audio, text).",
        f"- Spectrogram codec `{codec.get('name')}`: {codec.get('sample_rate')} Hz mono, {codec.get('n_mels')} mel bins, "
        f"{codec.get('num_frames')} frames of hop {codec.get('hop_length')} per window; phase by Griffin-Lim.",
        "",
        "## Training data",
        "",
        "```json",
        json.dumps(training, indent=2, sort_keys=True, default=str) if training else "{}  (not recorded: untrained or unknown)",
        "```",
        "",
        "## License and limitations",
        "",
        f"License: {license_}. Check the licenses of the training data listed above before shipping outputs "
        "or this model (some research data sets are non-commercial).",
        "Generated stems are limited by the spectrogram resolution and Griffin-Lim phase reconstruction; "
        "long songs are generated window by window, with continuity constraints across windows.",
        "",
    ]
    return "\n".join(lines)


def _is_spdx_like(text: str) -> bool:
    return bool(text) and " " not in text and len(text) < 40
