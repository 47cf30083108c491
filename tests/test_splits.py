"""The one song-level split (``stemgen.splits``): the part models' original assignment kept on every
shared MIDI file, and the same split for a song whether the part models or the audio dataset
builder read it."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from stemgen.data.builder import BuildConfig, song_split
from stemgen.midi.splits import files_in_split, find_midi_files
from stemgen.sources.discover import discover, with_variant
from stemgen.splits import DEFAULT_RATIOS, hashed_split, parse_ratios, split_of


def midi_split_before_issue_21(path: Path, groove_info: dict[str, str]) -> str:
    """``midi/splits.split_of`` as the bundled part models were trained and tested with it (frozen
    here as the reference): Groove MIDI's info.csv, else sha1 of the file name mod 100."""
    if path.name in groove_info:
        return groove_info[path.name]
    bucket = int(hashlib.sha1(path.name.encode()).hexdigest(), 16) % 100
    return "test" if bucket < 10 else "valid" if bucket < 20 else "train"


@pytest.fixture(scope="module")
def groove_info(shared_data) -> dict[str, str]:
    with open(shared_data / "groove_midi" / "info.csv", newline="") as fh:
        return {Path(r["midi_filename"]).name: r["split"].replace("validation", "valid") for r in csv.DictReader(fh)}


def test_the_part_models_assignment_is_kept_on_every_shared_midi_file(band_midi_dir, groove_dir, groove_info):
    band, groove = find_midi_files(band_midi_dir), find_midi_files(groove_dir)
    assert len(band) == 320 and len(groove) == 1150
    ratios = parse_ratios("0.8,0.1,0.1")
    for path in band + groove:
        before = midi_split_before_issue_21(path, groove_info if path in groove else {})
        assert split_of(path) == split_of(path, ratios, 0) == before, path
    counts = {s: len(files_in_split(band_midi_dir, s)) for s in ("train", "valid", "test")}
    assert sum(counts.values()) == 320 and 15 < counts["test"] < 50 and 15 < counts["valid"] < 50
    # Groove keeps its own split (sessions apart) whatever the ratios and seed.
    evaluation = next(p for p in groove if "eval_session" in str(p))
    assert split_of(evaluation) == split_of(evaluation, (1.0, 0.0, 0.0), seed=5) == "test"


def test_a_song_has_one_split_for_the_part_models_and_the_audio_dataset(band_midi_dir, groove_dir):
    config = BuildConfig(out_dir=Path("unused"), stem="bass")
    assert config.split_ratios == DEFAULT_RATIOS and config.split_seed == 0
    refs, errors = discover([band_midi_dir, groove_dir / "drummer1"])
    assert not errors and len(refs) > 320
    by_split = {s: set(files_in_split(band_midi_dir, s)) | set(files_in_split(groove_dir / "drummer1", s))
                for s in ("train", "valid", "test")}
    for ref in refs:
        split = song_split(ref, config)
        assert ref.path in by_split[split], ref.path
        assert song_split(with_variant(ref, 3), config) == split  # augmented renderings too


def test_ratios_and_seed_draw_other_stable_splits():
    names = [f"song-{i}.mid" for i in range(4000)]
    half = [hashed_split(n, (0.5, 0.25, 0.25)) for n in names]
    assert half == [hashed_split(f"other/folder/{n}", (0.5, 0.25, 0.25)) for n in names]  # folders ignored
    assert 0.47 < half.count("train") / len(names) < 0.53 and 0.22 < half.count("test") / len(names) < 0.28
    # Whole-percent ratios are exactly the sha1 % 100 buckets; finer ones refine them.
    buckets = [int(hashlib.sha1(n.encode()).hexdigest(), 16) % 100 for n in names]
    assert [hashed_split(n, (0.7, 0.13, 0.17)) for n in names] == [
        "test" if b < 17 else "valid" if b < 30 else "train" for b in buckets]
    fine = [hashed_split(n, (0.8, 0.1, 0.105)) for n, b in zip(names, buckets) if b == 10]
    assert 0 < fine.count("test") < len(fine)
    seeded = [hashed_split(n, DEFAULT_RATIOS, seed=1) for n in names]
    assert seeded == [hashed_split(n, DEFAULT_RATIOS, seed=1) for n in names]
    assert seeded != [hashed_split(n) for n in names] and 0.77 < seeded.count("train") / len(names) < 0.83
    assert {hashed_split(n, (0.0, 0.0, 1.0)) for n in names[:200]} == {"test"}
    assert {hashed_split(n, (1.0, 0.0, 0.0)) for n in names[:200]} == {"train"}


def test_ratios_parse_and_normalise():
    assert parse_ratios("8,1,1") == pytest.approx((0.8, 0.1, 0.1))


@pytest.mark.parametrize("text", ["0.8,0.2", "a,b,c", "-1,1,1", "0,0,0"])
def test_bad_ratios(text):
    with pytest.raises(ValueError):
        parse_ratios(text)
