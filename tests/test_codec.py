"""Spectrogram codec: shapes, Riffusion's exact convention, PNG I/O, round-trip quality, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stemgen.audio.io import load_audio
from stemgen.codec import COMPACT, RIFFUSION, TINY, SpectrogramCodec, get_preset, pad_or_trim
from stemgen.codec.config import CodecConfig
from stemgen.codec.metrics import spectral_convergence

PRESET_NAMES = ["riffusion", "compact", "tiny"]
# Spectral convergence of drums.wav (MUSDB excerpt, first window) through encode -> decode with the
# preset's default Griffin-Lim iterations, at the preset's rate. Measured: riffusion 0.498 (its
# 10 kHz ceiling drops the cymbals' top octave), compact 0.143, tiny 0.535 (16 kHz, 32 bands).
# The limits leave margin for BLAS/FFT differences between machines.
SC_LIMIT = {"riffusion": 0.6, "compact": 0.25, "tiny": 0.7}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def codecs() -> dict[str, SpectrogramCodec]:
    return {name: SpectrogramCodec(get_preset(name)) for name in PRESET_NAMES}


def _drums(musdb_song, config: CodecConfig) -> torch.Tensor:
    audio, _ = load_audio(musdb_song / "drums.wav", sample_rate=config.sample_rate, mono=True)
    return pad_or_trim(torch.from_numpy(audio), config.window_samples)  # (1, window_samples)


def test_riffusion_parameters_are_exact():
    c = RIFFUSION
    assert (c.sample_rate, c.win_length, c.hop_length, c.n_fft) == (44_100, 4_410, 441, 17_640)
    assert (c.n_mels, c.num_frames, c.f_min, c.f_max, c.mel_scale, c.power) == (512, 512, 0.0, 10_000.0, "htk", 0.25)
    assert c.window_samples == 225_792 and abs(c.window_seconds - 5.12) < 1e-9
    assert c.griffin_lim_iters == 32
    assert CodecConfig.from_dict(c.to_dict()) == c


def test_riffusion_image_is_512x512(codecs, musdb_song):
    image = codecs["riffusion"].audio_to_image(_drums(musdb_song, RIFFUSION))
    assert image.shape == (1, 1, 512, 512)


def test_riffusion_mel_filterbank_matches_torchaudio_melscale():
    import torchaudio
    codec = SpectrogramCodec(RIFFUSION)
    ref = torchaudio.transforms.MelScale(n_mels=512, sample_rate=44_100, f_min=0, f_max=10_000,
                                         n_stft=17_640 // 2 + 1, norm=None, mel_scale="htk")
    spec = torch.rand(1, 17_640 // 2 + 1, 3)
    torch.testing.assert_close(codec.mel.to_mel(spec), ref(spec), rtol=1e-4, atol=1e-4)


def test_riffusion_pixel_convention():
    """A pixel is 255 - 255 * (|X| of int16 samples) ** 0.25 / 50, low frequencies at the bottom."""
    mag = torch.zeros(1, 512, 4)
    mag[0, 0, :] = (25.0 ** 4) / 32768.0  # lowest band at half of max_volume in int16 units
    image = SpectrogramCodec(RIFFUSION).magnitude_to_image(mag)
    pixels = (image + 1) * 127.5
    assert torch.allclose(pixels[0, 0, -1], torch.full((4,), 127.5), atol=1e-3)  # bottom row
    assert torch.all(pixels[0, 0, :-1] == 255)  # silence is white


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_shapes_and_ranges(codecs, name):
    codec, cfg = codecs[name], get_preset(name)
    audio = 0.5 * torch.randn(2, cfg.window_samples, generator=torch.Generator().manual_seed(0))
    mag = codec.audio_to_magnitude(audio)
    assert mag.shape == (2, cfg.n_mels, cfg.num_frames) and torch.all(mag >= 0)
    image = codec.audio_to_image(audio)
    assert image.shape == (2, 1, cfg.n_mels, cfg.num_frames)
    assert image.min() >= -1 and image.max() <= 1
    out = codec.image_to_audio(image, n_iter=2)
    assert out.shape == (2, cfg.window_samples) and torch.isfinite(out).all()


def test_audio_to_image_rejects_wrong_length(codecs):
    with pytest.raises(ValueError, match="pad_or_trim"):
        codecs["tiny"].audio_to_image(torch.zeros(1, TINY.window_samples - 1))


def test_pad_or_trim():
    x = torch.arange(10.0)
    assert pad_or_trim(x, 4).tolist() == [0, 1, 2, 3]
    assert pad_or_trim(x[None], 12).shape == (1, 12) and pad_or_trim(x, 12)[-2:].tolist() == [0, 0]
    assert pad_or_trim(x, 10) is x


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_image_magnitude_image_identity(codecs, name):
    codec, cfg = codecs[name], get_preset(name)
    image = torch.rand(1, 1, cfg.n_mels, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    torch.testing.assert_close(codec.magnitude_to_image(codec.image_to_magnitude(image)), image, atol=1e-4, rtol=0)


def test_png_round_trip_is_lossless_up_to_8_bit(codecs, musdb_song, tmp_path):
    codec = codecs["compact"]
    image = codec.audio_to_image(_drums(musdb_song, COMPACT))
    path = codec.image_to_png(image, tmp_path / "spec.png")
    back = codec.png_to_image(path)
    assert back.shape == image.shape
    assert (back - image).abs().max() <= 1 / 255 + 1e-6  # half an 8-bit step in [-1, 1] units
    # A second round trip is exact: 8-bit values survive unchanged.
    again = codec.png_to_image(codec.image_to_png(back, tmp_path / "again.png"))
    assert torch.equal(again, back)
    from stemgen.codec.image import png_to_image

    assert png_to_image(path)[1] == COMPACT  # the codec config travels inside the PNG


def test_png_reads_riffusion_style_rgb(tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (8, 6), dtype=np.uint8)
    Image.fromarray(pixels, mode="L").convert("RGB").save(tmp_path / "rgb.png")
    image = SpectrogramCodec.png_to_image(tmp_path / "rgb.png")
    assert torch.equal(((image[0, 0] + 1) * 127.5).round().to(torch.uint8), torch.from_numpy(pixels))


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_drum_round_trip_quality(codecs, musdb_song, name):
    codec, cfg = codecs[name], get_preset(name)
    audio = _drums(musdb_song, cfg)
    out = codec.image_to_audio(codec.audio_to_image(audio))
    assert out.shape == audio.shape
    sc = float(spectral_convergence(audio, out, n_fft=1024 * cfg.sample_rate // 22_050, hop=256 * cfg.sample_rate // 22_050)[0])
    assert sc < SC_LIMIT[name], f"{name}: spectral convergence {sc:.3f}"
    # Level is kept (no normalisation), so a decoded stem can be mixed back in.
    rms_in, rms_out = audio.pow(2).mean().sqrt(), out.pow(2).mean().sqrt()
    assert 0.5 < float(rms_out / rms_in) < 1.5


@pytest.mark.parametrize("name", ["compact", "tiny"])
def test_silence_stays_silent(codecs, name):
    codec, cfg = codecs[name], get_preset(name)
    image = codec.audio_to_image(torch.zeros(1, cfg.window_samples))
    assert torch.all(image == 1.0)  # white = silent
    out = codec.image_to_audio(image)
    assert torch.isfinite(out).all() and out.abs().max() < 1e-6


def test_batched_equals_unbatched(codecs, musdb_song):
    codec = codecs["compact"]
    drums = _drums(musdb_song, COMPACT)
    batch = torch.cat([drums, 0.5 * drums.flip(-1)])
    images = codec.audio_to_image(batch)
    torch.testing.assert_close(images[1:], codec.audio_to_image(batch[1:]), atol=1e-5, rtol=0)
    audio = codec.image_to_audio(images, n_iter=4)
    torch.testing.assert_close(audio[1:], codec.image_to_audio(images[1:], n_iter=4), atol=1e-4, rtol=1e-3)


def test_decode_is_deterministic_and_init_phase_helps(codecs, musdb_song):
    codec = codecs["compact"]
    audio = _drums(musdb_song, COMPACT)
    image = codec.audio_to_image(audio)
    a, b = codec.image_to_audio(image, n_iter=4), codec.image_to_audio(image, n_iter=4)
    assert torch.equal(a, b)
    with_phase = codec.image_to_audio(image, n_iter=4, init_phase=codec.audio_to_phase(audio))
    assert spectral_convergence(audio, with_phase) < spectral_convergence(audio, a)


def test_magnitude_to_image_keeps_gradients(codecs):
    mag = torch.rand(1, TINY.n_mels, 8, requires_grad=True)
    mag.data[0, 0, 0] = 0.0  # pow() at zero must not produce NaN gradients
    codecs["tiny"].magnitude_to_image(mag).sum().backward()
    assert torch.isfinite(mag.grad).all()


def test_riffusion_phase_on_padded_grid_is_accepted(codecs):
    """``init_phase`` may come from the padded 17640-point STFT; it maps onto the 4410-point grid."""
    codec = codecs["riffusion"]
    audio = torch.randn(1, 44_100, generator=torch.Generator().manual_seed(2))
    padded = codec.audio_to_spectrum(audio)
    assert codec.phase_bins == 4410 // 2 + 1 and padded.shape[-2] == codec.n_freqs
    mapped = codec._to_phase_grid(padded.angle())
    wrapped = torch.angle(torch.exp(1j * (mapped - codec.audio_to_phase(audio))))
    weight = padded.abs()[:, ::4]
    assert float((wrapped.abs() * weight).sum() / weight.sum()) < 1e-2
