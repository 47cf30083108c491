"""Train one stem's part model on subtractive examples from MIDI folders.

One readable loop on purpose (CPU-sized runs of minutes). Each batch: random windows of random
songs (longer songs more often), the context recomputed from the roles kept: the target stem is
always removed, each other role dropped with ``role_drop`` probability and all of them with
``solo_prob`` (so the model also serves incomplete arrangements and drums-only input), the whole
window transposed by a random interval (context chroma and target pitches together: the model
becomes key-invariant), the instruction replaced by "no instruction" with ``text_drop``.
Losses: binary cross-entropy on onsets (calibrated probabilities: the decoder keeps their sum),
cross-entropy on the bass pitch, per-lane BCE on the guitar pitch set, BCE on sustain, squared
error on velocity.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from stemgen.ema import ExponentialMovingAverage
from stemgen.stems import STEMS

from .context import N_CONTEXT, RoleComponents, combine
from .examples import SongExample
from .features import N_DRUM, N_PITCHES, ONSET, SUSTAIN, VELOCITY, pitch_logits
from .model import MidiModelConfig, PartModel, save_model

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    steps: int = 2600
    batch_size: int = 12
    lr: float = 2e-3
    ema_decay: float = 0.998
    text_drop: float = 0.15
    role_drop: float = 0.25
    solo_prob: float = 0.1
    transpose: int = 6  # semitones: uniform in [-transpose + 1, transpose]
    time_limit_s: float | None = None  # CPU seconds of this process (a shared machine's wall clock says little)
    seed: int = 0


def _slice(c: RoleComponents, a: int, b: int) -> RoleComponents:
    return RoleComponents(c.chroma[:, a:b], c.lowest[a:b], c.onsets[:, a:b], c.loudness[a:b], c.pitch[:, a:b])


def transpose_lanes(lanes: np.ndarray, k: int) -> np.ndarray:
    """Pitch lanes (48, W) moved ``k`` semitones up; a note pushed off either end moves an octave
    back in (its pitch class is kept and its register stays as close as the lanes allow)."""
    if k == 0:
        return lanes
    n = lanes.shape[0]
    dest = np.arange(n) + k
    dest = np.where(dest >= n, dest - 12, np.where(dest < 0, dest + 12, dest))
    out = np.zeros_like(lanes)
    np.maximum.at(out, dest, lanes)  # two lanes landing on one keep the louder (bool: either)
    return out


class WindowSampler:
    """Random training windows (context, labels, text embedding) from a list of songs."""

    def __init__(self, songs: list[SongExample], stem: str, window: int, seed: int, weights: list[float] | None = None):
        keep = [i for i, s in enumerate(songs) if stem in s.targets]
        if not keep:
            raise ValueError(f"no training song has a {stem} part")
        self.songs = [songs[i] for i in keep]
        self.stem, self.window = stem, window
        p = np.array([s.n_steps for s in self.songs], np.float64)
        if weights is not None:
            p *= np.array([weights[i] for i in keep])
        self.p = p / p.sum()
        self.rng = np.random.default_rng(seed)

    def window_of(self, song: SongExample, start: int, roles: list[str], k: int) -> dict[str, np.ndarray]:
        """Context (N_CONTEXT, W), labels and loss mask for ``window`` steps from ``start``, transposed by ``k``."""
        end = min(start + self.window, song.n_steps)
        ctx = np.zeros((N_CONTEXT, self.window), np.float32)
        ctx[:, : end - start] = combine([_slice(song.components[r], start, end) for r in roles],
                                        song.position[:, start:end], transpose=k)
        return {"context": ctx, **target_window(song.targets[self.stem], self.stem, start, end, self.window, k)}

    def batch(self, size: int, settings: TrainSettings | None = None) -> dict[str, torch.Tensor]:
        s = settings
        items, texts = [], []
        for i in self.rng.choice(len(self.songs), size=size, p=self.p):
            song = self.songs[i]
            start = int(self.rng.integers(0, max(1, song.n_steps - self.window + 1)))
            roles = [r for r in song.roles if r != self.stem]
            if s is not None:
                if self.rng.random() < s.solo_prob:
                    roles = []
                roles = [r for r in roles if self.rng.random() >= s.role_drop]
            k = int(self.rng.integers(-s.transpose + 1, s.transpose + 1)) if s is not None and s.transpose else 0
            items.append(self.window_of(song, start, roles, k))
            texts.append(song.text_emb[self.stem])
        return stack_batch(items, texts)


def target_window(target: dict[str, np.ndarray], stem: str, start: int, end: int, window: int,
                  k: int = 0) -> dict[str, np.ndarray]:
    """Labels and loss mask of ``window`` steps from ``start`` (zero-padded after ``end``), pitch
    lanes transposed ``k`` semitones: drums ``vel`` (9, W); pitched ``on`` (48, W) and ``sus``."""
    n = end - start
    mask = np.zeros(window, np.float32)
    mask[:n] = 1
    if stem == "drums":
        vel = np.zeros((N_DRUM, window), np.float32)
        vel[:, :n] = target["drums"][:, start:end] / 127.0
        return {"vel": vel, "mask": mask}
    on = np.zeros((N_PITCHES, window), np.float32)
    sus = np.zeros((N_PITCHES, window), bool)
    on[:, :n] = transpose_lanes(target["onset"][:, start:end], k) / 127.0
    sus[:, :n] = transpose_lanes(target["sustain"][:, start:end], k)
    return {"on": on, "sus": sus, "mask": mask}


def stack_batch(items: list[dict[str, np.ndarray]], texts: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """Windows (``target_window`` plus ``context``) and their text embeddings as one ``part_loss`` batch."""
    out = {key: torch.from_numpy(np.stack([it[key] for it in items])) for key in items[0]}
    out["text"] = torch.from_numpy(np.stack(texts))
    return out


def part_loss(model: PartModel, batch: dict, text_drop: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Training loss of a batch and its parts (for logging)."""
    b = batch["context"].shape[0]
    use_text = torch.rand(b) >= text_drop
    out = model(batch["context"], batch["text"], use_text)
    mask = batch["mask"][:, None]  # (B, 1, W)
    if model.config.stem == "drums":
        vel = batch["vel"]
        hit = (vel > 0).float()
        onset = (F.binary_cross_entropy_with_logits(out[:, :N_DRUM], hit, reduction="none") * mask).sum() / mask.sum()
        v = ((torch.sigmoid(out[:, N_DRUM:]) - vel) ** 2 * hit).sum() / hit.sum().clamp(min=1)
        parts = {"onset": onset, "velocity": v}
    else:
        on, sus = batch["on"], batch["sus"]
        hit = on.amax(dim=1) > 0  # (B, W)
        m = mask[:, 0]
        onset = (F.binary_cross_entropy_with_logits(out[:, ONSET], hit.float(), reduction="none") * m).sum() / m.sum()
        # Sustain: on steps without an onset, does the last note still sound?
        held = (sus.any(dim=1) & ~hit).float()
        sm = m * (~hit).float()
        sustain = (F.binary_cross_entropy_with_logits(out[:, SUSTAIN], held, reduction="none") * sm).sum() / sm.sum().clamp(min=1)
        vel_real = on.sum(dim=1) / (on > 0).sum(dim=1).clamp(min=1)
        hm = hit.float()
        velocity = ((torch.sigmoid(out[:, VELOCITY]) - vel_real) ** 2 * hm).sum() / hm.sum().clamp(min=1)
        logits = pitch_logits(out, model.config.stem).permute(0, 2, 1)[hit]  # (n_onsets, 48)
        lanes = (on > 0).permute(0, 2, 1)[hit].float()
        if logits.shape[0] == 0:
            pitch = out.sum() * 0.0
        elif model.config.stem == "bass":
            pitch = F.cross_entropy(logits, lanes.argmax(dim=1))  # lowest onset lane (argmax = first max)
        else:
            pitch = F.binary_cross_entropy_with_logits(logits, lanes) * N_PITCHES / 4
        parts = {"onset": onset, "pitch": pitch, "sustain": sustain, "velocity": velocity}
    return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}


CHECK_EVERY = 500  # steps between held-out checks (the saved model is the best one checked)


@torch.no_grad()
def validate(model: PartModel, sampler: WindowSampler, n: int = 96) -> dict:
    """Held-out loss of fixed windows (no role drop, no transposition)."""
    state, sampler.rng = sampler.rng, np.random.default_rng(1234)
    batch = sampler.batch(n, None)
    sampler.rng = state
    loss, parts = part_loss(model, batch)
    return {"valid_loss": round(float(loss), 4)} | {f"valid_{k}": round(v, 4) for k, v in parts.items()}


def generation_texts(songs: list[SongExample], stem: str) -> list[np.ndarray]:
    """The instruction embedding ``MidiGenerator`` gives each song by default: written from the
    song without ``stem`` (training instructions also describe the real part, e.g. its density)."""
    from stemgen.midifile.grid import song_to_grid
    from stemgen.midifile.io import load_midi

    from .descriptors import write_instructions
    from .text import embed_texts

    items = []
    for song in songs:
        grid = song_to_grid(load_midi(song.path), 4)
        grid.tracks = [t for t in grid.tracks if t.role != stem]
        items.append((grid, stem, song.path))
    return list(embed_texts(write_instructions(items)))


@torch.no_grad()
def density_scale(model: PartModel, songs: list[SongExample], texts: list[np.ndarray] | None = None) -> list[float]:
    """How much to scale the expected onset count so that generated parts are as dense as the
    real ones on held-out songs; the decoder multiplies its onset count by it.

    ``texts``: one instruction embedding per song (default: the training instruction).
    Drums: one factor per class, real / expected onsets summed over songs. Pitched parts: one
    factor making the mean over songs of generated / real onsets 1 (what the evaluation's density
    ratio measures: a mean of per-song ratios, which sparse songs pull up).
    """
    stem = model.config.stem
    real, expected = [], []
    for i, song in enumerate(songs):
        if stem not in song.targets:
            continue
        ctx = combine([c for r, c in song.components.items() if r != stem], song.position)
        text = song.text_emb[stem] if texts is None else texts[i]
        out = model(torch.from_numpy(ctx)[None], torch.from_numpy(np.asarray(text))[None])[0]
        tgt = song.targets[stem]
        if stem == "drums":
            expected.append(torch.sigmoid(out[:N_DRUM]).sum(dim=1).numpy())
            real.append((tgt["drums"] > 0).sum(axis=1))
        else:
            expected.append(float(torch.sigmoid(out[ONSET]).sum()))
            real.append(int((tgt["onset"].max(axis=0) > 0).sum()))
    return density_from_counts(stem, real, expected)


def density_from_counts(stem: str, real: list, expected: list) -> list[float]:
    """``density_scale`` from per-song onset counts: ``real`` (drums: per class) and ``expected``
    (the model's summed onset probabilities), for MIDI and audio contexts alike."""
    if not real:
        return [1.0] * (N_DRUM if stem == "drums" else 1)
    if stem == "drums":
        r, e = np.sum(real, axis=0), np.sum(expected, axis=0)
        return [round(float(a / b), 3) if b > 0 else 1.0 for a, b in zip(r, e)]
    ratios = np.array(expected) / np.maximum(np.array(real), 1)
    return [round(float(1.0 / max(ratios.mean(), 1e-6)), 3)]


def fit(model: PartModel, next_batch, *, steps: int, lr: float, text_drop: float, ema_decay: float,
        time_limit_s: float | None = None, warmup: int = 100, on_step=None, held_out_score=None,
        check_every: int = 250) -> tuple[PartModel, list[float], int]:
    """The part models' training recipe, for training from scratch and for fine-tuning alike: AdamW,
    linear warm-up then cosine decay, gradient clipping at 1, an EMA of the weights with warm-up (early
    weights do not linger in short runs). ``next_batch()`` gives ``part_loss`` batches; stops after
    ``steps`` or ``time_limit_s`` CPU seconds. Returns (the EMA model in eval mode, losses, steps done).

    ``held_out_score(model) -> float`` (higher is better): checked on the EMA every ``check_every``
    steps and at the end; the best-scoring EMA is returned."""
    model.train().requires_grad_(True)
    ema = ExponentialMovingAverage(model.parameters(), ema_decay)
    averaged = copy.deepcopy(model).requires_grad_(False)  # the EMA weights as a model, for checks and the result
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
    c0, losses, step = time.process_time(), [], 0
    best = (-math.inf, None)

    def check() -> None:
        nonlocal best
        ema.copy_to(averaged.parameters())
        score = held_out_score(averaged.eval())
        if score > best[0]:
            best = (score, copy.deepcopy(averaged.state_dict()))

    for step in range(steps):
        loss, _ = part_loss(model, next_batch(), text_drop)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        ema.update(model.parameters())
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses)
        if held_out_score is not None and (step + 1) % check_every == 0:
            check()
        if time_limit_s and time.process_time() - c0 > time_limit_s:
            log.info("time limit reached after %d steps", step + 1)
            break
    if held_out_score is not None:
        if (step + 1) % check_every:  # the last step was not checked yet
            check()
        averaged.load_state_dict(best[1])
    else:
        ema.copy_to(averaged.parameters())
    return averaged.eval(), losses, step + 1


def train_stem_model(
    train_songs: list[SongExample],
    valid_songs: list[SongExample],
    config: MidiModelConfig,
    settings: TrainSettings,
    out_dir: str | Path,
    extra_meta: dict | None = None,
    progress: bool = True,
    weights: list[float] | None = None,
) -> dict:
    """Train, validate and save to ``out_dir``; returns the metadata written to ``config.json``."""
    from tqdm import tqdm

    torch.manual_seed(settings.seed)
    stem = config.stem
    sampler = WindowSampler(train_songs, stem, config.window, settings.seed, weights)
    valid = WindowSampler(valid_songs, stem, config.window, settings.seed + 1) if any(
        stem in s.targets for s in valid_songs) else None
    bar = tqdm(total=settings.steps, disable=not progress, desc=f"train {stem}", leave=False)

    def report(step: int, losses: list[float]) -> None:
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")

    checks: list[float] = []  # held-out F1 of the EMA every CHECK_EVERY steps (and at the end)
    scorer = texts = None
    if valid is not None:
        from .tune import F1_COLUMN, HeldOutScorer

        scorer = HeldOutScorer(stem, [s.path for s in valid.songs], config.steps_per_beat)
        texts = generation_texts(valid.songs, stem)
    hears = any(r != stem for s in sampler.songs for r in s.roles)

    def held_out_f1(model: PartModel) -> float:
        """The evaluation's F1 on the valid songs, decoded with this checkpoint's own calibration."""
        decode = {"density_scale": density_scale(model, valid.songs, texts)}
        checks.append(round(scorer.score(scorer.logits(model, hears), decode)[F1_COLUMN[stem]], 4))
        return checks[-1]

    t0, c0 = time.time(), time.process_time()
    final, losses, n_steps = fit(PartModel(config), lambda: sampler.batch(settings.batch_size, settings),
                                 steps=settings.steps, lr=settings.lr, text_drop=settings.text_drop,
                                 ema_decay=settings.ema_decay, time_limit_s=settings.time_limit_s, on_step=report,
                                 held_out_score=held_out_f1 if scorer is not None and len(scorer) else None,
                                 check_every=CHECK_EVERY)
    bar.close()
    step = n_steps - 1
    metrics = {"train_loss_last100": round(float(np.mean(losses[-100:])), 4)}
    if checks:
        kept = int(np.argmax(checks))
        metrics["kept_step"] = min((kept + 1) * CHECK_EVERY, n_steps)  # the weights saved: the best held-out F1
        metrics["valid_f1_curve"] = checks
        metrics["check_every"] = CHECK_EVERY
    decode = {"density_scale": [1.0] * (N_DRUM if stem == "drums" else 1)}
    if valid is not None:
        metrics.update(validate(final, valid))
        decode["density_scale"] = density_scale(final, valid.songs, texts)
    meta = {
        "steps": step + 1,
        "batch_size": settings.batch_size,
        "settings": {k: v for k, v in vars(settings).items()},
        "train_seconds": round(time.time() - t0, 1),
        "train_cpu_seconds": round(time.process_time() - c0, 1),
        "train_songs": len(sampler.songs),
        "valid_songs": len(valid.songs) if valid else 0,
        "metrics": metrics,
        "decode": decode,
        # A model that never heard other parts (Groove MIDI: drums only) is given only the meter.
        "hears_other_parts": hears,
        "loss_curve": [round(float(np.mean(losses[i:i + 100])), 4) for i in range(0, len(losses), 100)],
        "parameters": sum(p.numel() for p in final.parameters()),
        **(extra_meta or {}),
    }
    save_model(final, out_dir, meta)
    return meta


def train_from_folder(
    roots: list[str | Path] | str | Path,
    stem: str,
    out_dir: str | Path,
    settings: TrainSettings,
    config: MidiModelConfig | None = None,
    max_songs: int | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> dict:
    """Song-level split of each folder in ``roots`` (see ``splits``), examples, training, model in ``out_dir``.

    With several folders, each contributes the same share of training windows (a small folder is
    not drowned by a large one).
    """
    from .examples import build_examples
    from .splits import files_in_split

    roots = [roots] if isinstance(roots, (str, Path)) else list(roots)
    config = config or MidiModelConfig(stem)
    train_songs, valid_songs, weights, train_files, valid_files = [], [], [], [], []
    for root in roots:
        tf = files_in_split(root, "train")[:max_songs]
        vf = files_in_split(root, "valid")[: max_songs and max(2, max_songs // 4)]
        # All stems in each example: one cache serves the three models.
        songs = build_examples(tf, STEMS, config.steps_per_beat, cache_dir=cache_dir)
        total = sum(s.n_steps for s in songs if stem in s.targets) or 1
        train_songs += songs
        weights += [1.0 / total] * len(songs)
        valid_songs += build_examples(vf, STEMS, config.steps_per_beat, cache_dir=cache_dir)
        train_files += [Path(p).name for p in tf]
        valid_files += vf
    extra = {
        "data": {"roots": ["/".join(Path(r).resolve().parts[-2:]) for r in roots],
                 "split": "song-level: sha1(file name) % 100 < 10 test, < 20 valid, else train; "
                          "Groove MIDI: its info.csv split"},
        "train_files": train_files,
    }
    meta = train_stem_model(train_songs, valid_songs, config, settings, out_dir, extra, progress, weights)
    from .tune import tune_model_folder

    # Decoding settings chosen on the valid songs, by the evaluation's metrics (``tune.py``).
    tuned = tune_model_folder(out_dir, valid_files)
    if tuned is not None:
        meta["decode"] |= tuned["chosen"]
    return meta
