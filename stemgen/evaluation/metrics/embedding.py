"""Audio embeddings for the Fréchet distance: a fixed offline feature vector, or a local model.

``offline`` (always available, deterministic, no weights), 93 numbers per clip, analysed at
22.05 kHz with a 2048-point FFT and 23 ms hop:

====================  ====  ==========================================================
group                 dims  what it captures
====================  ====  ==========================================================
log-mel mean          32    spectral envelope / timbre balance (dB / 20)
log-mel std           32    how much each band moves (dynamics per band, dB / 10)
loudness              2     mean and spread of frame RMS (dB / 20, dB / 10)
onsets                3     onset-strength mean and spread, onsets per second / 4
tempogram             12    periodicity of the onset envelope pooled in 12 log-spaced
                            tempo bands 40-240 BPM (how strong a pulse, at which rate)
chroma                12    mean pitch-class profile (harmony, key)
====================  ====  ==========================================================

What it misses: everything a learned embedding knows about *what* the sound is beyond its
spectral envelope (a synth bass and a bass guitar with the same envelope look alike), timing
*between* instruments (it is a bag of frames: a perfectly groovy stem and the same stem shifted by
an 8th note embed almost alike), phase and Griffin-Lim artefacts above the mel resolution, and
anything at frame scales below 23 ms. Groups are scaled by fixed constants (not by data) so the
numbers are comparable across runs; it complements, not replaces, the rhythm metrics.

Local models (``--embedding PATH``): a Hugging Face ``transformers`` folder read with
``local_files_only=True`` (nothing is ever downloaded): CLAP (``get_audio_features``) or any
audio encoder with a feature extractor (AST, wav2vec2, HuBERT, MERT exported without remote
code: mean of the last hidden state over time). Pickled checkpoints (VGGish/PANNs ``.pth``)
are refused, as everywhere in stemgen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from stemgen.errors import StemgenInputError
from stemgen.evaluation import signals

N_MELS = 32
TEMPO_BANDS = 12
TEMPO_RANGE_BPM = (40.0, 240.0)
HOP = 512  # 23 ms at 22.05 kHz (librosa's default): part of the embedding's definition
OFFLINE_DIM = 2 * N_MELS + 2 + 3 + TEMPO_BANDS + 12


class Embedding(Protocol):
    """Audio clip -> fixed-length vector."""

    name: str

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray: ...


class OfflineEmbedding:
    """The fixed handcrafted feature vector documented in this module (``offline-v1``)."""

    name = "offline-v1"
    dim = OFFLINE_DIM

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        import librosa

        y, sr = signals._analysis_signal(audio, sample_rate)
        if y.size < 2048:
            y = np.pad(y, (0, 2048 - y.size))
        hop = HOP
        power = np.abs(librosa.stft(y, n_fft=2048, hop_length=hop)) ** 2
        mel_db = np.maximum(
            librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=N_MELS), ref=1.0, amin=1e-10, top_db=None),
            -100.0,
        )
        frame_db = np.maximum(10 * np.log10(np.maximum(power.mean(axis=0), 1e-10)), -100.0)
        env = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=hop)
        onsets = signals.detect_onsets(y, sr)
        duration = y.size / sr
        parts = [
            mel_db.mean(axis=1) / 20,
            mel_db.std(axis=1) / 10,
            [frame_db.mean() / 20, frame_db.std() / 10],
            [env.mean(), env.std(), len(onsets) / duration / 4],
            _tempo_bands(env, sr, hop),
            _chroma(power, sr),
        ]
        return np.nan_to_num(np.concatenate([np.ravel(p) for p in parts]).astype(np.float64))


def _tempo_bands(env: np.ndarray, sr: int, hop: int) -> np.ndarray:
    """Mean autocorrelation tempogram pooled into ``TEMPO_BANDS`` log-spaced BPM bands."""
    import librosa

    if not np.any(env > 0):
        return np.zeros(TEMPO_BANDS)
    win = min(384, max(16, env.size))
    tg = librosa.feature.tempogram(onset_envelope=env, sr=sr, hop_length=hop, win_length=win).mean(axis=1)
    bpms = librosa.tempo_frequencies(tg.shape[0], sr=sr, hop_length=hop)
    edges = np.geomspace(*TEMPO_RANGE_BPM, TEMPO_BANDS + 1)
    out = np.zeros(TEMPO_BANDS)
    for k in range(TEMPO_BANDS):
        sel = (bpms >= edges[k]) & (bpms < edges[k + 1])
        if np.any(sel):
            out[k] = tg[sel].mean()
    return out


def _chroma(power: np.ndarray, sr: int) -> np.ndarray:
    """Mean pitch-class profile (frames max-normalised, as librosa does); zeros for silence."""
    import librosa

    if not np.any(power > 1e-10):
        return np.zeros(12)
    # tuning fixed at A440: estimating it would call librosa's piptrack (a numba kernel, see signals)
    return librosa.feature.chroma_stft(S=power, sr=sr, n_fft=2048, tuning=0.0).mean(axis=1)


class LocalModelEmbedding:
    """A local ``transformers`` audio model (CLAP or an encoder with a feature extractor)."""

    def __init__(self, path: str | Path, device: str = "cpu"):
        self.path = Path(path)
        self.device = device
        self.name = f"local:{self.path.name}"
        config_file = self.path / "config.json"
        if not self.path.is_dir() or not config_file.is_file():
            raise StemgenInputError(
                self.path, "not a local transformers model folder with config.json (embedding weights are never downloaded)"
            )
        if not any(self.path.glob("*.safetensors")):
            raise StemgenInputError(self.path, "no .safetensors weights (pickled checkpoints are refused)")
        self.model_type = json.loads(config_file.read_text()).get("model_type", "")
        try:
            self._load()
        except Exception as exc:  # noqa: BLE001 - any loader failure is a bad folder for this purpose
            raise StemgenInputError(self.path, f"cannot load as an audio embedding model ({exc})") from exc

    def _load(self) -> None:
        import transformers

        kw = dict(local_files_only=True, use_safetensors=True)
        if self.model_type == "clap":
            self.model = transformers.ClapModel.from_pretrained(self.path, **kw)
            self.processor = transformers.ClapProcessor.from_pretrained(self.path, local_files_only=True)
            self.sample_rate = int(self.processor.feature_extractor.sampling_rate)
        else:
            self.model = transformers.AutoModel.from_pretrained(self.path, **kw)
            self.processor = transformers.AutoFeatureExtractor.from_pretrained(self.path, local_files_only=True)
            self.sample_rate = int(self.processor.sampling_rate)
        self.model.eval().to(self.device)

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        import torch

        from stemgen.audio.io import resample

        y = resample(signals.to_mono(audio)[None], sample_rate, self.sample_rate)[0]
        with torch.no_grad():
            if self.model_type == "clap":
                inputs = self.processor(audios=[y], sampling_rate=self.sample_rate, return_tensors="pt").to(self.device)
                vec = self.model.get_audio_features(**inputs)[0]
            else:
                inputs = self.processor(y, sampling_rate=self.sample_rate, return_tensors="pt").to(self.device)
                vec = self.model(**inputs).last_hidden_state[0].mean(dim=0)
        return vec.float().cpu().numpy().astype(np.float64)


def make_embedding(spec: str = "offline", device: str = "cpu") -> Embedding:
    """``"offline"`` -> ``OfflineEmbedding``; anything else is a path to a local model folder."""
    if spec == "offline":
        return OfflineEmbedding()
    return LocalModelEmbedding(spec, device=device)
