"""Train the learned beat/downbeat activation of ``stemgen.analysis.learned_beats`` by subtractive training.

    nice -n 10 .venv/bin/python scripts/train_beat_tracker.py collect --split train --out /tmp/beat_train.npz
    nice -n 10 .venv/bin/python scripts/train_beat_tracker.py collect --split valid --draws 1 --out /tmp/beat_valid.npz
    nice -n 10 .venv/bin/python scripts/train_beat_tracker.py train /tmp/beat_train.npz --valid /tmp/beat_valid.npz \\
        --minutes 20 --out models/analysis/beats-tcn-band

``collect``: songs of the band MIDI set's ``--split`` whose notes follow their tempo map (share of
note onsets on the map's 16th grid >= 0.8, as ``scripts/eval_analysis.py``; about half the set keeps
a nominal 120 BPM map its notes ignore), the first ``--seconds`` rendered ``--draws`` times with a
seeded ``render.Augmentation`` (SoundFont, programs within their GM family, velocities, stem gains),
each draw as the full mix and with drums, bass and guitar removed in turn (the arranger's inputs).
Per clip: the analysis' own input features (``learned_beats.network_input``: log-mel and its
positive difference, the frames of ``stemgen.analysis.core``) and the targets, beat and downbeat
frames from the exact tempo map.
``collect --groove``: Groove MIDI (CC BY 4.0, drums only, played to a click) "beat" files of its own
split, the full mix only (``--min-on-grid 0.6``: human timing); ``--random-starts``: draws after the
first start at a random point of the song's first 90 s.
``collect --synthetic``: commercial-safe songs composed in code (``compose_beat_songs.py``) over each
Groove MIDI "beat" file of the split, then ``--drumless`` songs of their own and ``--tempo-changes``
drum-less songs whose tempo steps, ramps or drifts (the MIDI tempo map exact), in the four contexts
(the weights ``models/analysis/beats-tcn-cc``, ``--beat-tracker learned-cc``; see its card).
``train``: the small dilated TCN of ``learned_beats`` (torch, one thread), binary cross-entropy
on beat and downbeat frames (the frames next to a target count half, as in Böck et al.), Adam,
random 12-s crops (``--tempo-aug X``: each crop's time axis stretched by a factor log-uniform in
[1/X, X], as a longer or shorter hop would give), optionally from trained weights (``--init``),
learning rate decaying linearly to a tenth, for ``--minutes`` of CPU (or
``--wall-minutes``); keeps the weights with the lowest valid loss and
writes ``model.safetensors`` + ``config.json`` to ``--out`` (the model card README is written by hand).
The test split is never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_analysis import BAND_DIR, DATA

GROOVE_DIR = DATA / "groove_midi"

CONTEXTS = ("mix", "no_drums", "no_bass", "no_guitar")


def collect(args) -> None:
    from stemgen.midi.splits import files_in_split

    feats, beats, downbeats, names = [], [], [], []
    skipped = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="beat_songs_") as tmp:  # the composed MIDI goes with it
        if args.synthetic:
            paths = synthetic_songs(args, Path(tmp))
        else:
            paths = (groove_files(args.split) if args.groove else files_in_split(BAND_DIR, args.split))[args.first_song : args.max_songs]
        for path in paths:
            skipped += collect_song(args, path, feats, beats, downbeats, names)
            print(f"{path.name} clips {len(feats)} {time.time() - t0:.0f}s", flush=True)
    np.savez_compressed(args.out, names=np.array(names), lengths=np.array([f.shape[1] for f in feats]),
                        feats=np.concatenate(feats, axis=1),
                        beats=np.array(beats, dtype=object), downbeats=np.array(downbeats, dtype=object))
    print(json.dumps({"clips": len(feats), "skipped_songs": skipped, "seconds": round(time.time() - t0)}))


def collect_song(args, path: Path, feats: list, beats: list, downbeats: list, names: list) -> int:
    """Append the clips of one song (each draw, each context) to the lists; returns how many draws
    were skipped because the notes ignore the map (a draw the synth cannot render is skipped, said so)."""
    from stemgen.analysis import learned_beats as lb
    from stemgen.analysis import spectral
    from stemgen.evaluation.ground_truth import midi_truth, notes_on_tempo_map
    from stemgen.midifile.io import load_midi
    from stemgen.render import render_stems
    from stemgen.render.augmentation import Augmentation

    skipped = 0
    song = load_midi(path)
    for draw in range(args.draws):
        # Draws after the first start at a random point of the song (seeded by its name).
        rng = np.random.default_rng([draw, sum(path.name.encode())])
        start = float(rng.uniform(0.0, max(min(song.duration_s - args.seconds, 90.0), 0.0))) \
            if draw and args.random_starts else 0.0
        truth = midi_truth(song, start, start + args.seconds)
        if truth.beat_times.size < 8 or notes_on_tempo_map(song, truth) < args.min_on_grid:
            skipped += 1
            continue
        aug = Augmentation.draw(draw, path.name) if draw or args.augment_first else None
        try:
            r = render_stems(path, augmentation=aug, max_seconds=start + args.seconds, song_id=path.name)
        except Exception as exc:  # noqa: BLE001 - a song the synth cannot render is skipped, said so
            print(f"skip {path.name}: {exc}", file=sys.stderr)
            continue
        first = int(round(start * r.sample_rate))
        mix = r.mix()[0][first:]
        for ctx in ("mix",) if args.groove else CONTEXTS:
            if ctx != "mix" and ctx.removeprefix("no_") not in r.present:
                continue  # the same audio as the mix
            audio = mix if ctx == "mix" else mix - r.stems[ctx.removeprefix("no_")][0][first:]
            y = spectral.decimate(spectral.mono(audio), r.sample_rate, spectral.MAX_FEATURE_SR)
            if spectral.rms_db(y) <= -60:
                continue
            x = lb.network_input(y)
            feats.append(x.astype(np.float16))
            beats.append(truth.beat_times - start)
            downbeats.append(truth.downbeat_times - start)
            names.append(f"{path.name}|{draw}|{ctx}")
    return skipped


def synthetic_songs(args, tmp: Path):
    """Paths of code-composed songs (``compose_beat_songs``) written under ``tmp``: one over each of
    Groove MIDI's "beat" files of ``--split`` (``--first-song``/``--max-songs``) whose onsets follow
    its map (``--min-on-grid``), then ``--drumless`` songs of their own (4/4 or 3/4, 55-190 BPM), then
    ``--tempo-changes`` drum-less songs whose tempo changes (``compose_song(..., tempo_changes=True)``),
    then ``--pulse`` bare pulses (``compose_song(..., pulse=True)``, every other one changing tempo)."""
    import zlib

    import pretty_midi
    from compose_beat_songs import compose_song

    from stemgen.evaluation.ground_truth import midi_truth, notes_on_tempo_map
    from stemgen.midifile.io import load_midi

    for path in groove_files(args.split)[args.first_song : args.max_songs]:
        groove = load_midi(path)
        truth = midi_truth(groove, 0.0, args.seconds)
        if truth.beat_times.size < 8 or notes_on_tempo_map(groove, truth) < args.min_on_grid:
            continue
        out = tmp / f"{args.split}_{path.stem}.mid"
        compose_song(zlib.crc32(out.name.encode()), pretty_midi.PrettyMIDI(str(path))).write(str(out))
        yield out
    kinds = (("drumless", args.drumless, lambda i: {}),
             ("tempo", args.tempo_changes, lambda i: {"tempo_changes": True}),
             ("pulse", args.pulse, lambda i: {"tempo_changes": bool(i % 2), "pulse": True}))  # every other one changing
    for kind, count, options in kinds:
        for i in range(count):
            out = tmp / f"{args.split}_{kind}_{args.first_song + i}.mid"  # the name seeds the song
            compose_song(zlib.crc32(out.name.encode()), **options(i)).write(str(out))
            yield out


def groove_files(split: str) -> list[Path]:
    """Groove MIDI (CC BY 4.0, drums only, played to a click) "beat" files of its own ``split``
    ("train"/"validation"/"test"; "valid" is its "validation")."""
    import csv

    split = "validation" if split == "valid" else split
    with open(GROOVE_DIR / "info.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split and r["beat_type"] == "beat"]
    return [GROOVE_DIR / r["midi_filename"] for r in rows]


def load_clips(paths: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """[(features (bins, frames) float32, beat times, downbeat times)] of ``collect`` files (comma-separated)."""
    return [clip for p in str(paths).split(",") for clip in _load_clips(Path(p))]


def _load_clips(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    z = np.load(path, allow_pickle=True)
    ends = np.cumsum(z["lengths"])
    feats, beats, downbeats = z["feats"], z["beats"], z["downbeats"]  # each z[...] reads the file again
    return [(feats[:, a:b].astype(np.float32), np.asarray(beats[i], np.float64), np.asarray(downbeats[i], np.float64))
            for i, (a, b) in enumerate(zip(np.concatenate([[0], ends[:-1]]), ends))]


def targets(beat_frames: np.ndarray, downbeat_frames: np.ndarray, n: int) -> np.ndarray:
    """(2, n) beat/downbeat targets at (fractional) frame positions; the frames next to one count half."""
    y = np.zeros((2, n), np.float32)
    for row, pos in ((0, beat_frames), (1, downbeat_frames)):
        f = np.rint(pos).astype(int)
        f = f[(f >= 0) & (f < n)]
        for d, w in ((-1, 0.5), (1, 0.5), (0, 1.0)):  # widened targets: a frame off is half right
            g = np.clip(f + d, 0, n - 1)
            y[row, g] = np.maximum(y[row, g], w)
    return y


def crop_clip(clip, start: float, n: int, stretch: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames of ``clip`` from frame ``start``, its time axis read ``stretch`` times faster
    (tempo augmentation: the music ``stretch`` times faster, as a hop ``stretch`` times longer would
    give): the log-mel rows interpolated, their flux recomputed (``learned_beats.network_input``),
    the targets moved. Past the clip's end: silence."""
    from stemgen.analysis import learned_beats as lb

    x, beats, downbeats = clip
    n_mel = x.shape[0] // 2
    pos = start + np.arange(n) * stretch
    i0 = np.clip(np.floor(pos).astype(int), 0, x.shape[1] - 1)
    i1 = np.clip(i0 + 1, 0, x.shape[1] - 1)
    frac = (pos - np.floor(pos)).astype(np.float32)
    m = x[:n_mel, i0] * (1 - frac) + x[:n_mel, i1] * frac
    m[:, pos > x.shape[1] - 1] = x[:n_mel].min()
    flux = np.maximum(np.diff(m, axis=1, prepend=m[:, :1]), 0.0)
    to_frame = lambda t: (t * lb.FRAME_RATE - start) / stretch  # noqa: E731
    return np.concatenate([m, flux]).astype(np.float32), targets(to_frame(beats), to_frame(downbeats), n)


def train(args) -> None:
    import torch

    from stemgen.analysis import learned_beats as lb

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    clips = load_clips(args.data)
    valid = [crop_clip(c, 0, c[0].shape[1]) for c in (load_clips(args.valid) if args.valid else clips[:8])]
    config = lb.NetConfig()
    net = lb.TorchTCN(config)
    if args.init:  # continue from trained weights (same architecture)
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in lb.load_model(str(args.init)).w.items()})
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    crop = int(args.crop_s * lb.FRAME_RATE)
    pos_weight = torch.tensor([[args.beat_weight], [args.downbeat_weight]])

    def loss_of(x, y):
        logits = net(x)
        w = 1.0 + (pos_weight - 1.0) * (y > 0)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=w)

    def valid_loss():
        net.eval()
        with torch.no_grad():
            total = sum(float(loss_of(torch.from_numpy(x)[None], torch.from_numpy(y)[None])) for x, y in valid)
        net.train()
        return total / len(valid)

    best, best_state, step, t0, wall0 = np.inf, None, 0, time.process_time(), time.time()
    history = []
    while time.process_time() - t0 < args.minutes * 60 and time.time() - wall0 < args.wall_minutes * 60:
        idx = rng.integers(len(clips), size=args.batch)
        xs, ys = [], []
        for i in idx:
            stretch = float(np.exp(rng.uniform(-np.log(args.tempo_aug), np.log(args.tempo_aug))))
            first = int(rng.integers(max(clips[i][0].shape[1] - int(crop * stretch), 0) + 1))
            xc, yc = crop_clip(clips[i], first, crop, stretch)
            xs.append(xc)
            ys.append(yc)
        done = max((time.process_time() - t0) / (args.minutes * 60), (time.time() - wall0) / (args.wall_minutes * 60))
        for group in opt.param_groups:  # linear decay to a tenth over the run's budget
            group["lr"] = args.lr * (1.0 - 0.9 * min(done, 1.0))
        loss = loss_of(torch.from_numpy(np.stack(xs).astype(np.float32)), torch.from_numpy(np.stack(ys)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % args.eval_every == 0:
            v = valid_loss()
            history.append({"step": step, "train": round(loss.item(), 4), "valid": round(v, 4),
                            "cpu_min": round((time.process_time() - t0) / 60, 1)})
            print(json.dumps(history[-1]), flush=True)
            if v < best:
                best, best_state = v, {k: t.detach().clone() for k, t in net.state_dict().items()}
    if best_state is None:
        best_state = net.state_dict()
    net.load_state_dict(best_state)
    lb.save_weights(net, config, args.out, {"steps": step, "best_valid_loss": round(float(best), 4),
                                           "train_clips": len(clips), "history": history[-5:],
                                           "init": args.init, "tempo_aug": args.tempo_aug,
                                           "downbeat_weight": args.downbeat_weight})
    print(json.dumps({"out": str(args.out), "steps": step, "best_valid_loss": best}))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--split", default="train", choices=["train", "valid"])
    c.add_argument("--seconds", type=float, default=45.0)
    c.add_argument("--draws", type=int, default=2)
    c.add_argument("--augment-first", action="store_true", help="augment draw 0 too (default: plain FluidR3)")
    c.add_argument("--groove", action="store_true", help="Groove MIDI drum-only files (the full mix only)")
    c.add_argument("--synthetic", action="store_true",
                   help="code-composed songs over Groove MIDI drums, then --drumless ones (commercial-safe)")
    c.add_argument("--drumless", type=int, default=0, help="with --synthetic: this many songs without Groove drums")
    c.add_argument("--tempo-changes", type=int, default=0,
                   help="with --synthetic: this many more drum-less songs whose tempo changes (steps, ramps, drifts)")
    c.add_argument("--pulse", type=int, default=0,
                   help="with --synthetic: this many bare pulses (a note on every beat; every other one changing tempo)")
    c.add_argument("--min-on-grid", type=float, default=0.8,
                   help="keep songs with this share of note onsets on the map's 16th grid (0.6 for human drummers)")
    c.add_argument("--random-starts", action="store_true", help="draws after the first start at a random point")
    c.add_argument("--first-song", type=int, default=0, help="start at this song of the split (shards)")
    c.add_argument("--max-songs", type=int, default=None, help="stop before this song of the split")
    c.add_argument("--out", type=Path, required=True)
    t = sub.add_parser("train")
    t.add_argument("data", help="collect files, comma-separated")
    t.add_argument("--valid")
    t.add_argument("--minutes", type=float, default=20.0)
    t.add_argument("--wall-minutes", type=float, default=60.0, help="also stop after this long (a shared machine)")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--crop-s", type=float, default=12.0)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--beat-weight", type=float, default=4.0)
    t.add_argument("--downbeat-weight", type=float, default=8.0)
    t.add_argument("--init", help="start from this model (a models/analysis name or folder)")
    t.add_argument("--tempo-aug", type=float, default=1.0,
                   help="stretch each crop's time axis by a factor drawn log-uniformly in [1/x, x] (1: none)")
    t.add_argument("--eval-every", type=int, default=100)
    t.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    collect(args) if args.cmd == "collect" else train(args)


if __name__ == "__main__":
    main()
