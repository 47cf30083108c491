"""The page: an Audio tab and a MIDI tab, wired to ``Handlers``.

Element ids (``elem_id``) are stable so the browser test can find things; API names are the
``gradio_client`` endpoints (``/insert_audio_stem``, ``/insert_midi_part``).
"""

from __future__ import annotations

from functools import partial

import gradio as gr

from stemgen import api
from stemgen.api import DEFAULT_AUDIO_GUIDANCE, DEFAULT_TEXT_GUIDANCE
from stemgen.stems import get_stem

from . import arranger_engine, midi_engine, transport
from .handlers import MAX_LEVEL_DB, MIN_DENSITY, MIN_LEVEL_DB, Handlers
from .page import PageActions
from .settings import (
    EXAMPLE_MIDIS,
    EXAMPLE_MIXES,
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
# WCAG AA: help texts, labels and the footer at >= 4.5:1 on their backgrounds (Gradio's default grey
# is ~1.9:1); the transport's own look; on a phone the controls wrap and the roll scrolls sideways.
PAGE_CSS = """
:root, .gradio-container {
  --block-info-text-color: #4b5563; --body-text-color-subdued: #4b5563; --block-label-text-color: #374151;
  --input-placeholder-color: #6b7280; --block-title-text-color: #1f2937;
}
.dark, .dark .gradio-container {
  --block-info-text-color: #d1d5db; --body-text-color-subdued: #d1d5db; --block-label-text-color: #e5e7eb;
  --input-placeholder-color: #c4c8ce; --block-title-text-color: #f3f4f6;
}
.gradio-container { --button-primary-background-fill: #c2410c; --button-primary-background-fill-hover: #9a3412;
  --button-primary-text-color: #ffffff; }
.tab-container button.selected, button.selected[role=tab] { color: #9a3412 !important; }
.dark .tab-container button.selected, .dark button.selected[role=tab] { color: #fdba74 !important; }
.timestamps time, .playback, .playback * { color: #374151 !important; }
.dark .timestamps time, .dark .playback, .dark .playback * { color: #e5e7eb !important; }
footer, footer * { color: #374151 !important; opacity: 1 !important; }
.dark footer, .dark footer * { color: #e5e7eb !important; }
.tp { display: flex; flex-direction: column; gap: 8px; }
.tp-empty p { color: #374151; margin: 1em 0; }
.dark .tp-empty p { color: #e5e7eb; }
.tp-roll { overflow-x: auto; }
.tp-canvas { position: relative; min-width: 560px; cursor: pointer; }
.tp-canvas img { display: block; width: 100%; height: auto; background: #fff; }
.tp-head { position: absolute; top: 0; bottom: 0; width: 2px; background: #c2410c; left: 10%; pointer-events: none; }
.tp-row { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 14px; border: 0; padding: 0; margin: 0; }
.tp-row legend { font-weight: 600; margin-bottom: 4px; }
.tp button { padding: 6px 14px; border-radius: 6px; border: 1px solid #1f2937; background: #1f2937; color: #fff; }
.tp button.tp-stop { background: #fff; color: #1f2937; }
.tp input[type=number] { width: 4.5em; }
.tp-time { font-variant-numeric: tabular-nums; }
@media (max-width: 480px) { #audio-result { scroll-margin-top: 8px; } .tp-row { gap: 6px 10px; } }
"""
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
    """Upload or pick a song, see and correct its grid (the song panel), choose the stem and
    instruction, get takes in one A/B transport with DAW-ready downloads; developer details behind a
    toggle."""
    first = settings.stems[0]
    first_engine = arranger_engine.default_engine(first)
    page = PageActions(h)
    status = gr.Markdown(h.model_status(first, MODEL_BUNDLED, "", first_engine), elem_id="audio-model-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, elem_id="audio-controls"):
            audio_in = gr.Audio(
                label=f"Your song, without the part to add (up to {settings.max_audio_seconds:g} s)",
                type="filepath",
                sources=["upload"],
                buttons=["download"],
                elem_id="audio-input",
            )
            grid = gr.Column(visible=first_engine == "arranger", variant="panel", elem_id="audio-grid")
            with grid:
                panel = gr.Markdown("Upload a song to see its tempo, meter, key and bars.", elem_id="song-panel")
                grid_png = gr.Image(label="The song's waveform with its beat grid", type="filepath",
                                    interactive=False, visible=False, buttons=["fullscreen"], elem_id="song-grid")
                clicks = gr.Audio(label="Click track over the song (high click: bar start)", type="filepath",
                                  interactive=False, visible=False, buttons=[], elem_id="song-click")
                with gr.Row():
                    bpm = gr.Number(value=None, label="Tempo (BPM)", placeholder="as detected",
                                    minimum=0, elem_id="audio-bpm")
                    meter = gr.Dropdown(list(arranger_engine.METER_CHOICES), value=arranger_engine.AUTO_METER,
                                        label="Meter", elem_id="audio-meter")
                    downbeat = gr.Number(value=None, label="First bar starts at (s)", placeholder="as detected",
                                         minimum=0, elem_id="audio-downbeat")
                with gr.Row():
                    tap = gr.Button("Tap tempo", size="sm", elem_id="audio-tap")
                    halve = gr.Button("½×", size="sm", elem_id="audio-halve")
                    double = gr.Button("2×", size="sm", elem_id="audio-double")
                    earlier = gr.Button("Bar start one beat earlier", size="sm", elem_id="audio-downbeat-earlier")
                    later = gr.Button("Bar start one beat later", size="sm", elem_id="audio-downbeat-later")
                beat_tracker = gr.Dropdown(list(arranger_engine.BEAT_TRACKER_CHOICES), value=api.default_beat_tracker(),
                                           label="Beat finder", elem_id="audio-beat-tracker",
                                           info="If the beats or bars are wrong, try another, then Check the grid")
                check = gr.Button("Check the grid", size="sm", variant="secondary", elem_id="audio-check-grid")
            stem = stem_radio(settings, "audio-stem")
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
            with gr.Row():
                density = gr.Slider(MIN_DENSITY, 2.0, value=1.0, step=0.1, label="Busy",
                                    info="Fewer notes ← 1 → more notes", elem_id="audio-density")
                level = gr.Slider(MIN_LEVEL_DB, MAX_LEVEL_DB, value=get_stem(first).default_level_db, step=0.5,
                                  label="Part level against the song (dB)",
                                  info="Starts where the part sits in real recordings", elem_id="audio-level")
                variation = gr.Slider(0.0, 1.5, value=api.default_temperature(first), step=0.05,
                                      label="Variation between takes",
                                      info="0: every take plays the same part; higher: takes stray further",
                                      elem_id="audio-variation")
            with gr.Row():
                run = gr.Button("Generate", variant="primary", elem_id="audio-generate")
                again = gr.Button("New take", variant="secondary", elem_id="audio-new-take")
                cancel = gr.Button("Cancel", variant="stop", visible=False, elem_id="audio-cancel")
            with gr.Accordion("More settings (engine, seed, diffusion model)", open=False, elem_id="audio-advanced"):
                engine = gr.Radio(
                    arranger_engine.engine_choices(),
                    value=first_engine,
                    label="Engine",
                    info="The arranger follows the song's beat and also gives a MIDI file",
                    elem_id="audio-engine",
                )
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed (take N uses seed + N - 1)")
                midi_tempo = gr.Radio(
                    [("Follows the song's beats", "map"), ("One constant tempo", "constant")],
                    value="map",
                    label="MIDI file tempo",
                    info="Constant: the song's median BPM (in the details as midi_bpm); set your DAW project "
                         "to it and start the .mid and the song at 0 s",
                    visible=first_engine == "arranger",
                    elem_id="audio-midi-tempo",
                )
                quantize = gr.Checkbox(False, label="Quantize: every note exactly on the beat grid",
                                       info="Off: played with the timing and accents of real drummers",
                                       visible=first_engine == "arranger", elem_id="audio-quantize")
                excerpt = gr.Checkbox(False, label="Excerpt: the audio starts inside a song",
                                      info="On: the part plays on into it, without the opening crash of a "
                                           "song's first bar",
                                      visible=first_engine == "arranger", elem_id="audio-excerpt")
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
            gr.Examples(
                [[str(path), ex_stem, text] for path, ex_stem, text in EXAMPLE_MIXES],
                [audio_in, stem, instruction],
                label="Examples: songs without the part they add (Kevin MacLeod, CC BY 3.0)",
                elem_id="audio-examples",
            )
        with gr.Column(scale=5, elem_id="audio-result"):
            error = gr.Markdown("", visible=False, elem_id="audio-error")
            player = gr.HTML(transport.empty_html(), js_on_load=transport.TRANSPORT_JS, elem_id="audio-transport")
            take_list = gr.Radio([], label="Takes", visible=False, elem_id="audio-takes")
            files = gr.File(label="Downloads (WAV at your song's rate and bit depth, MIDI, all takes as .zip)",
                            file_count="multiple", interactive=False, visible=False, elem_id="audio-downloads")
            with gr.Accordion("Developer details", open=False, elem_id="audio-developer"):
                details = gr.JSON(label="Details", elem_id="audio-details")
                before = gr.Image(label="Spectrogram before", type="filepath", interactive=False,
                                  buttons=IMAGE_BUTTONS, elem_id="audio-before",
                                  alt_text="Mel spectrogram of the song before the new part")
                after = gr.Image(label="Spectrogram after", type="filepath", interactive=False,
                                 buttons=IMAGE_BUTTONS, elem_id="audio-after",
                                 alt_text="Mel spectrogram of the song with the new part, same colour scale")
            # The API's own outputs (gradio_client); the page shows results in the transport instead.
            with gr.Column(visible=False):
                mix_out = gr.Audio(label="New mix", type="filepath", interactive=False, elem_id="audio-mix-output")
                stem_out = gr.Audio(label="The stem alone", type="filepath", interactive=False,
                                    elem_id="audio-stem-output")
                roll = gr.Image(label="The new part", type="filepath", interactive=False, elem_id="audio-part-roll")
                api_files = gr.File(file_count="multiple", interactive=False)
                take_in = gr.Number(value=1, precision=0, label="Take")
                # blank: the stem's own default level (the page's slider starts at the first stem's)
                level_in = gr.Number(value=None, label="Level (dB)")
                temperature_in = gr.Number(value=None, label="Temperature")  # blank: the stem's default
                api_run = gr.Button("API", elem_id="audio-api-run")
    kept = gr.State([])

    private = dict(api_visibility="private", queue=False)
    # A new stem first sets its recommended engine and kits; the status then follows the engine.
    stem.change(h.stem_engine_and_sounds, stem, [engine, sound], **private)
    stem.change(lambda st: get_stem(st).default_level_db, stem, level, **private)
    stem.change(api.default_temperature, stem, variation, **private)
    engine.change(h.engine_controls, engine, [sound, diffusion], **private)
    engine.change(lambda e: gr.update(visible=e == "arranger"), engine, grid, **private)
    engine.change(lambda e: gr.update(visible=e == "arranger"), engine, midi_tempo, **private)
    engine.change(lambda e: gr.update(visible=e == "arranger"), engine, quantize, **private)
    engine.change(lambda e: gr.update(visible=e == "arranger"), engine, excerpt, **private)
    facts = gr.State({})
    grid_inputs = [audio_in, bpm, meter, downbeat, beat_tracker]
    grid_outputs = [panel, grid_png, clicks, facts]
    audio_in.change(page.song_panel, grid_inputs, grid_outputs, api_visibility="private",
                    concurrency_id=GENERATE, show_progress_on=[panel])
    beat_tracker.input(page.song_panel, grid_inputs, grid_outputs, api_visibility="private", concurrency_id=GENERATE,
                       show_progress_on=[panel])
    check.click(page.song_panel, grid_inputs, grid_outputs, api_visibility="private", concurrency_id=GENERATE,
                show_progress_on=[panel])
    tap.click(None, bpm, bpm, js=TAP_JS, **private)
    halve.click(lambda b, d: arranger_engine.scaled_tempo(b, d, 0.5), [bpm, facts], bpm, **private)
    double.click(lambda b, d: arranger_engine.scaled_tempo(b, d, 2.0), [bpm, facts], bpm, **private)
    later.click(arranger_engine.next_downbeat, [downbeat, bpm, facts], downbeat, **private)
    earlier.click(arranger_engine.previous_downbeat, [downbeat, bpm, facts], downbeat, **private)
    model_inputs = [stem, model, model_folder, engine]
    for trigger in (stem.change, model.change, model_folder.blur, engine.change):
        trigger(h.model_status, model_inputs, status, **private)
    stem.change(h.instruction_choices, [stem, instruction], [picker, instruction], **private)

    inputs = [
        audio_in, stem, instruction, audio_guidance, text_guidance, steps, seed, scheduler, model, model_folder,
        engine, sound, bpm, meter, downbeat,
    ]
    # The API: new inputs and outputs go last, so gradio_client calls written before them keep working.
    api_run.click(
        h.insert_audio_stem,
        [*inputs, density, take_in, level_in, temperature_in, midi_tempo, quantize, excerpt, beat_tracker],
        [mix_out, stem_out, before, after, api_files, details, roll],
        api_name="insert_audio_stem",
        concurrency_id=GENERATE,
    )
    # The page: one staged progress bar (on the player), Generate/New take locked and Cancel shown while it runs.
    outputs = [error, player, kept, take_list, files, details, before, after]
    busy = [run, again, cancel]
    runs = []
    for button, new_take in ((run, False), (again, True)):
        started = button.click(lambda: _busy(True), None, busy, **private)
        job = started.then(
            partial(page.generate, new_take=new_take),
            [kept, *inputs, density, level, variation, midi_tempo, quantize, excerpt, beat_tracker],
            outputs,
            api_visibility="private", concurrency_id=GENERATE, show_progress_on=[player],
        )
        job.then(lambda: _busy(False), None, busy, **private).then(None, js=SHOW_RESULT_JS, **private)
        runs.append(job)
    cancel.click(lambda: _busy(False), None, busy, cancels=runs, **private)
    take_list.input(page.pick, [kept, take_list], [player, files], **private)


def _busy(running: bool):
    return (gr.update(interactive=not running), gr.update(interactive=not running), gr.update(visible=running))


# Tap tempo in the browser (no round trip): the mean interval of the taps within the last 3 s.
TAP_JS = """(bpm) => {
  const now = performance.now();
  const taps = (window.stemgenTaps = (window.stemgenTaps || []).filter((t) => now - t < 3000));
  taps.push(now);
  if (taps.length < 2) return bpm;
  const beat = (taps[taps.length - 1] - taps[0]) / (taps.length - 1);
  return Math.round(600000 / beat) / 10;
}"""
# After a run: bring the result (or its error) into view, on a phone too.
SHOW_RESULT_JS = "() => { document.querySelector('#audio-result')?.scrollIntoView({block: 'start'}); }"


def midi_tab(settings: UISettings, h: Handlers) -> None:
    """Upload a MIDI arrangement, choose the part to add, get the new file, pictures and a preview."""
    page = PageActions(h)
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
            sound = gr.Dropdown(
                midi_engine.sound_choices(settings.stems[0]),
                value=arranger_engine.AUTO_SOUND,
                label="Kit / instrument",
                info="The new track's General MIDI sound; or type a program number (0-127)",
                allow_custom_value=True,
                elem_id="midi-sound",
            )
            with gr.Row():
                density = gr.Slider(MIN_DENSITY, 2.0, value=1.0, step=0.1, label="Busy",
                                    info="Fewer notes ← 1 → more notes", elem_id="midi-density")
                variation = gr.Slider(0.0, 1.5, value=api.default_temperature(settings.stems[0]), step=0.05,
                                      label="Variation between takes",
                                      info="0: every seed plays the same part; higher: takes stray further",
                                      elem_id="midi-variation")
            replace = gr.Checkbox(False, label="Replace the part if the file has one",
                                  info="Otherwise a file that has the part already is refused, naming its tracks",
                                  elem_id="midi-replace")
            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed (another seed, another take)")
            run = gr.Button("Generate", variant="primary", elem_id="midi-generate")
            gr.Examples(
                [[str(path), ex_stem, text] for path, ex_stem, text in EXAMPLE_MIDIS],
                [midi_in, stem, instruction],
                label="Bundled examples (Groove MIDI Dataset, CC BY 4.0)",
            )
        with gr.Column():
            error = gr.Markdown("", visible=False, elem_id="midi-error")
            player = partial(gr.Audio, type="filepath", interactive=False, buttons=["download"])
            preview = player(label="Preview: the song with the new part (SoundFont render)", elem_id="midi-preview")
            solo = player(label="The new part alone", elem_id="midi-solo")
            midi_out = gr.File(label="New MIDI file", interactive=False, elem_id="midi-output")
            before = gr.Image(
                label="Before", type="filepath", interactive=False, buttons=IMAGE_BUTTONS, elem_id="midi-before",
                alt_text="Piano roll of the MIDI file before the new part",
            )
            after = gr.Image(
                label="After", type="filepath", interactive=False, buttons=IMAGE_BUTTONS, elem_id="midi-after",
                alt_text="Piano roll of the MIDI file with the new part, same pitch range",
            )
            with gr.Accordion("Developer details", open=False, elem_id="midi-developer"):
                details = gr.JSON(label="Details", elem_id="midi-details")
            api_run = gr.Button("API", visible=False, elem_id="midi-api-run")
            temperature_in = gr.Number(value=None, label="Temperature", visible=False)  # blank: the stem's default

    private = dict(api_visibility="private", queue=False)
    stem.change(h.instruction_choices, [stem, instruction], [picker, instruction], **private)
    stem.change(lambda st: gr.update(choices=midi_engine.sound_choices(st), value=arranger_engine.AUTO_SOUND),
                stem, sound, **private)
    stem.change(api.default_temperature, stem, variation, **private)
    inputs = [midi_in, stem, instruction, seed, replace, sound, density]
    outputs = [midi_out, before, after, preview, details, solo]
    # The API (gradio_client) raises its errors; the page keeps them inline with the fix. New inputs
    # and outputs go last, so clients written before them keep working.
    api_run.click(h.insert_midi_part, [*inputs, temperature_in], outputs, api_name="insert_midi_part",
                  concurrency_id=GENERATE)
    run.click(page.midi_part, [*inputs, variation], [error, *outputs], api_visibility="private",
              concurrency_id=GENERATE)


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
