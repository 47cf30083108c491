"""Spectrogram codec benchmark: round-trip quality and CPU cost per window, per preset.

audio -> codec image -> inverse mel -> phase reconstruction -> audio, on the real stems in
../shared/data (MUSDB18 excerpt: drums, bass, other; Slakh: guitar, the only stem
sounding in its 2 s fixture). Quality is
measured at a common 22.05 kHz on the stem's real extent (Slakh stems are 2 s long):
spectral convergence (lower is better), log-spectral distance in dB (lower is better) and
waveform SNR in dB (near or below 0 for any phase reconstruction; reported for honesty).

Also compares the decoder's parts with torchaudio's (``--compare``): InverseMelScale vs our
two-tap NNLS inverse, GriffinLim (momentum 0.99, random start) vs our fast Griffin-Lim, and a
start from the true phase (what ``init_phase`` gives when the phase of nearby audio is known).

Prints one JSON object a line: ``{"name", "figure", "unit", "device", "config"}``.
Usage: ``python bench/bench_codec.py [--presets riffusion,compact] [--threads 1] [--compare]
[--override compact:n_mels=160,power=0.3]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import torch

from stemgen.audio.io import load_audio, resample
from stemgen.codec import SpectrogramCodec, get_preset, pad_or_trim
from stemgen.codec.config import CodecConfig
from stemgen.codec.metrics import log_spectral_distance, snr_db, spectral_convergence

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
STEMS = {
    "musdb_drums": "real_stems/musdb18_7s_music_delta_80s_rock/drums.wav",
    "musdb_bass": "real_stems/musdb18_7s_music_delta_80s_rock/bass.wav",
    "musdb_other": "real_stems/musdb18_7s_music_delta_80s_rock/other.wav",
    # The Slakh fixture is the song's first 2 s, where only the guitar (S00) plays; its other
    # stems are digital silence there and would only dilute the means.
    "slakh_guitar": "slakh_fixture_track00001/stems/S00.wav",
}
EVAL_SR = 22_050


def emit(name: str, figure: float, unit: str, config: str, **extra) -> None:
    row = {"name": name, "figure": round(float(figure), 4), "unit": unit, "device": "cpu", "config": config}
    row.update(extra)
    print(json.dumps(row), flush=True)


def load_stems(config: CodecConfig) -> tuple[torch.Tensor, list[int]]:
    """All stems as one batch ``(S, window_samples)`` at the preset rate, and their real lengths."""
    audio, lengths = [], []
    for rel in STEMS.values():
        wav, _ = load_audio(DATA / rel, sample_rate=config.sample_rate, mono=True)
        lengths.append(min(wav.shape[-1], config.window_samples))
        audio.append(pad_or_trim(torch.from_numpy(wav[0]), config.window_samples))
    return torch.stack(audio), lengths


def to_eval_rate(audio: torch.Tensor, sr: int) -> torch.Tensor:
    return torch.from_numpy(resample(audio.numpy(), sr, EVAL_SR))


def quality(ref: torch.Tensor, est: torch.Tensor, sr: int, lengths: list[int]) -> dict[str, list[float]]:
    """Per-stem metrics at 22.05 kHz over each stem's real extent."""
    ref, est = to_eval_rate(ref, sr), to_eval_rate(est, sr)
    out: dict[str, list[float]] = {"sc": [], "lsd": [], "snr": []}
    for i, n in enumerate(lengths):
        n = n * EVAL_SR // sr
        r, e = ref[i : i + 1, :n], est[i : i + 1, :n]
        out["sc"].append(float(spectral_convergence(r, e)))
        out["lsd"].append(float(log_spectral_distance(r, e)))
        out["snr"].append(float(snr_db(r, e)))
    return out


def timed(fn, repeats: int = 1) -> tuple[object, float, float]:
    """``(result, wall ms, process CPU ms)`` per call; CPU time is what a shared machine can't skew."""
    result = fn()  # warm-up (and the result)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return result, (time.perf_counter() - wall) / repeats * 1000, (time.process_time() - cpu) / repeats * 1000


def bench_preset(config: CodecConfig, n_iter: int | None, repeats: int, compare: bool) -> None:
    codec = SpectrogramCodec(config)
    tag = config.name
    audio, lengths = load_stems(config)
    images = codec.audio_to_image(audio)
    decoded = codec.image_to_audio(images, n_iter=n_iter)
    q = quality(audio, decoded, config.sample_rate, lengths)
    iters = config.griffin_lim_iters if n_iter is None else n_iter
    cfg = f"{tag} {config.n_mels}x{config.num_frames} sr={config.sample_rate} gl_iters={iters}"
    for metric, unit in (("sc", "ratio"), ("lsd", "dB"), ("snr", "dB")):
        for stem, value in zip(STEMS, q[metric]):
            emit(f"codec_roundtrip_{metric}_{stem}", value, unit, cfg)
        emit(f"codec_roundtrip_{metric}_mean", sum(q[metric]) / len(q[metric]), unit, cfg)
    clipped = float((images <= -1 + 1e-6).float().mean())
    emit("codec_image_clipped_fraction", clipped, "ratio", cfg)

    one = audio[:1]
    image, *enc = timed(lambda: codec.audio_to_image(one), repeats)
    mag = codec.image_to_magnitude(image)
    _, *inv = timed(lambda: codec.mel.to_linear(mag), repeats)
    _, *dec = timed(lambda: codec.image_to_audio(image, n_iter=n_iter), repeats)
    for part, (wall_ms, cpu_ms) in (("encode", enc), ("inverse_mel", inv), ("decode", dec)):
        emit(f"codec_{part}_ms_per_window", wall_ms, "ms", cfg)
        emit(f"codec_{part}_cpu_ms_per_window", cpu_ms, "ms", cfg)
    emit("codec_decode_cpu_real_time_fraction", dec[1] / 1000 / config.window_seconds, "ratio", cfg)
    if compare:
        compare_parts(codec, audio, lengths, images, iters, cfg)


def compare_parts(codec: SpectrogramCodec, audio, lengths, images, iters: int, cfg: str) -> None:
    """Our decoder parts against torchaudio's, and against a start from the true phase."""
    import torchaudio

    config = codec.config
    mel = codec.image_to_magnitude(images)
    # Inverse mel: relative error in the mel domain and time per window.
    inv = torchaudio.transforms.InverseMelScale(
        n_stft=config.n_fft // 2 + 1, n_mels=config.n_mels, sample_rate=config.sample_rate,
        f_min=config.f_min, f_max=config.f_max, norm=None, mel_scale=config.mel_scale)
    for label, fn in (("torchaudio", lambda m: inv(m)), ("two_tap_nnls", codec.mel.to_linear)):
        linear, _, ms = timed(lambda: fn(mel[:1]))
        linear = fn(mel).clamp_min(0)
        err = (codec.mel.to_mel(linear) - mel).flatten(1).norm(dim=1) / mel.flatten(1).norm(dim=1).clamp_min(1e-12)
        emit(f"inverse_mel_{label}_mel_rel_error", float(err.nanmean()), "ratio", cfg)
        emit(f"inverse_mel_{label}_cpu_ms_per_window", ms, "ms", cfg)
    # Phase: torchaudio GriffinLim (as Riffusion ran it) on the same linear magnitudes.
    linear = codec.mel.to_linear(mel)[..., :: codec.decimation, :]
    linear = torch.cat([linear, linear[..., -1:]], dim=-1)
    gl = torchaudio.transforms.GriffinLim(
        n_fft=codec.synthesis_stft.n_fft, n_iter=iters, win_length=config.win_length,
        hop_length=config.hop_length, power=1.0, momentum=0.99, length=config.window_samples)
    torch.manual_seed(0)
    _, _, ta_ms = timed(lambda: gl(linear[:1]))
    torch.manual_seed(0)
    q = quality(audio, gl(linear), config.sample_rate, lengths)
    emit("phase_torchaudio_griffinlim_sc_mean", sum(q["sc"]) / len(q["sc"]), "ratio", cfg)
    emit("phase_torchaudio_griffinlim_lsd_mean", sum(q["lsd"]) / len(q["lsd"]), "dB", cfg)
    emit("phase_torchaudio_griffinlim_cpu_ms_per_window", ta_ms, "ms", cfg)
    # Start from the true phase (upper bound for init_phase), and fewer iterations of ours.
    true_phase = codec.audio_to_phase(audio)
    for label, kwargs in (("true_init_0it", {"n_iter": 0, "init_phase": true_phase}),
                          (f"true_init_{iters}it", {"n_iter": iters, "init_phase": true_phase}),
                          ("fgla_16it", {"n_iter": 16}), ("fgla_64it", {"n_iter": 64})):
        q = quality(audio, codec.image_to_audio(images, **kwargs), config.sample_rate, lengths)
        emit(f"phase_{label}_sc_mean", sum(q["sc"]) / len(q["sc"]), "ratio", cfg)
        emit(f"phase_{label}_lsd_mean", sum(q["lsd"]) / len(q["lsd"]), "dB", cfg)
        emit(f"phase_{label}_snr_mean", sum(q["snr"]) / len(q["snr"]), "dB", cfg)


def apply_override(config: CodecConfig, spec: str) -> CodecConfig:
    """``name:field=value,field=value`` -> a modified config (for design experiments)."""
    types = {f.name: f.type for f in dataclasses.fields(CodecConfig)}
    changes = {}
    for item in spec.split(","):
        key, value = item.split("=")
        changes[key] = value if types[key] in ("str", str) else (float(value) if "." in value or "e" in value else int(value))
    return dataclasses.replace(config, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="riffusion,compact")
    parser.add_argument("--iters", type=int, default=None, help="Griffin-Lim iterations (default: preset's)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 on a shared CPU)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compare", action="store_true", help="also compare with torchaudio's parts")
    parser.add_argument("--override", action="append", default=[], help="preset:field=value,... (experiments)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = dict(o.split(":", 1) for o in args.override)
    with torch.no_grad():
        for name in args.presets.split(","):
            config = get_preset(name)
            if name in overrides:
                config = apply_override(config, overrides[name])
            bench_preset(config, args.iters, args.repeats, args.compare)


if __name__ == "__main__":
    main()
