"""The page: an Audio tab and a MIDI tab, wired to ``Handlers``.

Element ids (``elem_id``) are stable so the browser test can find things; API names are the
``gradio_client`` endpoints (``/insert_audio_stem``, ``/insert_midi_part``).
"""

from __future__ import annotations

import gradio as gr

from stemgen.api import DEFAULT_AUDIO_GUIDANCE, DEFAULT_TEXT_GUIDANCE

from . import arranger_engine
from .handlers import Handlers
from .settings import (
    EXAMPLE_MIDIS,
    EXAMPLE_MIX,
    INSTRUCTIONS,
    MODEL_BUNDLED,
    MODEL_LOCAL,
    SCHEDULERS,
    UISettings,
)

# Audio and MIDI generations share one queue slot pool: the limit is on the machine, not per tab.
GENERATE = "generate"
MIDI_NOTE = (
    "The bundled MIDI models are trained on CC BY-NC-SA 4.0 data, so what they make is for **non-commercial** "
    "use; see `models/midi/README.md`."
)
IMAGE_BUTTONS = ["download", "fullscreen"]  # no "share": that is for Hugging Face Spaces
INTRO = """# stemgen
Add the missing **drums**, **bass** or **guitar** to a song, guided by a text instruction
([Subtractive Training](https://arxiv.org/abs/2406.19328)).
Upload audio or MIDI, say what you want, listen, download."""


def instruction_inputs(default_stem: str, elem_prefix: str) -> tuple[gr.Textbox, gr.Dropdown]:
    """A free-text instruction plus a picker of ready-made ones that fills it in."""
    text = gr.Textbox(
        label="Instruction", value=INSTRUCTIONS[default_stem][0], max_lines=2, elem_id=f"{elem_prefix}-instruction"
    )
    picker = gr.Dropdown(
        label="…or pick one",
        choices=INSTRUCTIONS[default_stem],
        value=None,
        elem_id=f"{elem_prefix}-instruction-picker",
    )
    picker.input(lambda choice: choice or gr.skip(), picker, text, api_visibility="private", queue=False)
    return text, picker


def stem_radio(settings: UISettings, elem_id: str) -> gr.Radio:
    return gr.Radio(list(settings.stems), value=settings.stems[0], label="Stem to add", elem_id=elem_id)


def audio_tab(settings: UISettings, h: Handlers) -> None:
    """Upload or pick a song, choose the stem, engine and instruction, get the new mix, stem and (with
    the arranger) the part's MIDI file and its piano roll over the song's beats."""
    first = settings.stems[0]
    first_engine = arranger_engine.default_engine(first)
    status = gr.Markdown(h.model_status(first, MODEL_BUNDLED, "", first_engine), elem_id="audio-model-status")
    with gr.Row():
        with gr.Column():
            audio_in = gr.Audio(
                label=f"Song without the stem (up to {settings.max_audio_seconds:g} s)",
                type="filepath",
                sources=["upload"],
                buttons=["download"],
                elem_id="audio-input",
            )
            stem = stem_radio(settings, "audio-stem")
            engine = gr.Radio(
                arranger_engine.engine_choices(),
                value=first_engine,
                label="Engine",
                info="The arranger follows the song's beat and also gives a MIDI file; the stem sets the recommended one",
                elem_id="audio-engine",
            )
            instruction, picker = instruction_inputs(first, "audio")
            sound = gr.Dropdown(
                arranger_engine.sound_choices(first),
                value=arranger_engine.AUTO_SOUND,
                label="Kit / instrument",
                info="Or type a General MIDI program number (0-127)",
                allow_custom_value=True,
                visible=first_engine == "arranger",
                elem_id="audio-sound",
            )
            grid = gr.Accordion("Beat grid (arranger): correct the detected tempo and bars", open=False,
                                visible=first_engine == "arranger", elem_id="audio-grid")
            with grid:
                with gr.Row():
                    bpm = gr.Number(value=None, label="Tempo (BPM)", info="Blank: detected (see Details)",
                                    minimum=0, elem_id="audio-bpm")
                    meter = gr.Dropdown(list(arranger_engine.METER_CHOICES), value=arranger_engine.AUTO_METER,
                                        label="Meter", elem_id="audio-meter")
                    downbeat = gr.Number(value=None, label="A downbeat (s)", info="Blank: detected",
                                         minimum=0, elem_id="audio-downbeat")
                with gr.Row():
                    halve = gr.Button("½ tempo", size="sm", elem_id="audio-halve")
                    double = gr.Button("2× tempo", size="sm", elem_id="audio-double")
                    later = gr.Button("Downbeat one beat later", size="sm", elem_id="audio-downbeat-later")
            with gr.Accordion("Advanced settings", open=False, elem_id="audio-advanced"):
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                diffusion = gr.Column(visible=first_engine != "arranger", elem_id="audio-diffusion-settings")
                with diffusion:
                    with gr.Row():
                        audio_guidance = gr.Slider(
                            0.0,
                            5.0,
                            value=DEFAULT_AUDIO_GUIDANCE,
                            step=0.1,
                            label="Audio guidance",
                            info="How closely to follow the song",
                        )
                        text_guidance = gr.Slider(
                            0.0,
                            15.0,
                            value=DEFAULT_TEXT_GUIDANCE,
                            step=0.5,
                            label="Text guidance",
                            info="How closely to follow the instruction",
                        )
                    with gr.Row():
                        steps = gr.Slider(1, 100, value=25, step=1, label="Steps", elem_id="audio-steps")
                        scheduler = gr.Dropdown(list(SCHEDULERS), value=SCHEDULERS[0], label="Sampler")
                    model = gr.Radio(h.models.choices(), value=MODEL_BUNDLED, label="Model", elem_id="audio-model")
                    # Only on a page started with --allow-any-model-folder: a server path typed by the user.
                    model_folder = gr.Textbox(
                        value="",
                        label=MODEL_LOCAL,
                        placeholder="/path/to/model (made by stemgen train)",
                        visible=settings.allow_any_model_folder,
                        elem_id="audio-model-folder",
                    )
            run = gr.Button("Generate", variant="primary", elem_id="audio-generate")
            gr.Examples(
                [[str(EXAMPLE_MIX), "drums", INSTRUCTIONS["drums"][2]]],
                [audio_in, stem, instruction],
                label="Bundled example (Kevin MacLeod, “Vibe Ace”, CC BY 3.0)",
            )
        with gr.Column():
            mix_out = gr.Audio(
                label="New mix", type="filepath", interactive=False, buttons=["download"], elem_id="audio-mix-output"
            )
            stem_out = gr.Audio(
                label="The stem alone",
                type="filepath",
                interactive=False,
                buttons=["download"],
                elem_id="audio-stem-output",
            )
            roll = gr.Image(
                label="The new part on the song's beats (arranger)",
                type="filepath",
                interactive=False,
                buttons=IMAGE_BUTTONS,
                elem_id="audio-part-roll",
            )
            before = gr.Image(
                label="Before", type="filepath", interactive=False, buttons=IMAGE_BUTTONS, elem_id="audio-before"
            )
            after = gr.Image(
                label="After", type="filepath", interactive=False, buttons=IMAGE_BUTTONS, elem_id="audio-after"
            )
            files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="audio-downloads")
            details = gr.JSON(label="Details", elem_id="audio-details")

    private = dict(api_visibility="private", queue=False)
    # A new stem first sets its recommended engine and kits; the status then follows the engine.
    stem.change(h.stem_engine_and_sounds, stem, [engine, sound], **private)
    engine.change(h.engine_controls, engine, [sound, diffusion], **private)
    engine.change(lambda e: gr.update(visible=e == "arranger"), engine, grid, **private)
    halve.click(lambda b, d: arranger_engine.scaled_tempo(b, d, 0.5), [bpm, details], bpm, **private)
    double.click(lambda b, d: arranger_engine.scaled_tempo(b, d, 2.0), [bpm, details], bpm, **private)
    later.click(arranger_engine.next_downbeat, [downbeat, bpm, details], downbeat, **private)
    model_inputs = [stem, model, model_folder, engine]
    for trigger in (stem.change, model.change, model_folder.blur, engine.change):
        trigger(h.model_status, model_inputs, status, **private)
    stem.change(h.instruction_choices, [stem, instruction], [picker, instruction], **private)
    # New inputs and outputs go last: gradio_client calls written before them keep working.
    run.click(
        h.insert_audio_stem,
        [
            audio_in, stem, instruction, audio_guidance, text_guidance, steps, seed, scheduler, model, model_folder,
            engine, sound, bpm, meter, downbeat,
        ],
        [mix_out, stem_out, before, after, files, details, roll],
        api_name="insert_audio_stem",
        concurrency_id=GENERATE,
    )


def midi_tab(settings: UISettings, h: Handlers) -> None:
    """Upload a MIDI arrangement, choose the part to add, get the new file, pictures and a preview."""
    gr.Markdown(MIDI_NOTE)
    with gr.Row():
        with gr.Column():
            midi_in = gr.File(
                label=f"MIDI file (up to {settings.max_midi_seconds / 60:g} min)",
                file_types=[".mid", ".midi"],
                type="filepath",
                elem_id="midi-input",
            )
            stem = stem_radio(settings, "midi-stem")
            instruction, picker = instruction_inputs(settings.stems[0], "midi")
            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
            run = gr.Button("Generate", variant="primary", elem_id="midi-generate")
            gr.Examples(
                [[str(path), ex_stem, text] for path, ex_stem, text in EXAMPLE_MIDIS],
                [midi_in, stem, instruction],
                label="Bundled examples (Groove MIDI Dataset, CC BY 4.0)",
            )
        with gr.Column():
            preview = gr.Audio(
                label="Preview (SoundFont render)",
                type="filepath",
                interactive=False,
                buttons=["download"],
                elem_id="midi-preview",
            )
            midi_out = gr.File(label="New MIDI file", interactive=False, elem_id="midi-output")
            before = gr.Image(
                label="Before", type="filepath", interactive=False, buttons=IMAGE_BUTTONS, elem_id="midi-before"
            )
            after = gr.Image(
                label="After", type="filepath", interactive=False, buttons=IMAGE_BUTTONS, elem_id="midi-after"
            )
            details = gr.JSON(label="Details", elem_id="midi-details")

    stem.change(
        h.instruction_choices, [stem, instruction], [picker, instruction], api_visibility="private", queue=False
    )
    run.click(
        h.insert_midi_part,
        [midi_in, stem, instruction, seed],
        [midi_out, before, after, preview, details],
        api_name="insert_midi_part",
        concurrency_id=GENERATE,
    )


def build_app(settings: UISettings | None = None) -> gr.Blocks:
    """The Blocks app, queued with the settings' concurrency limit (``launch`` it to serve)."""
    settings = settings or UISettings()
    h = Handlers(settings)
    # Gradio's own upload/output cache is cleaned like our output folders: every 15 minutes, files
    # older than keep_outputs_s (uploads Gradio itself refuses never reach our handlers).
    keep = max(int(settings.keep_outputs_s), 60)
    with gr.Blocks(title="stemgen", delete_cache=(min(900, keep), keep)) as app:
        gr.Markdown(INTRO)
        with gr.Tab("Audio", elem_id="tab-audio"):
            audio_tab(settings, h)
        with gr.Tab("MIDI", elem_id="tab-midi"):
            midi_tab(settings, h)
    app.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return app
