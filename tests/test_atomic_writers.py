"""Files that used to be written with hand-rolled temporary names now go through ``stemgen.fileio``:
while one is written it is a ``.part`` file that ``sweep_partial_files`` recognises, and a finished
write leaves none behind. Model cards have one writer (``stemgen.cards``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import stemgen.fileio
from stemgen.cards import front_matter, write_card
from stemgen.fileio import is_partial_file


@pytest.fixture
def renames(monkeypatch) -> list[tuple[Path, Path]]:
    """Every (temporary, final) rename made by ``stemgen.fileio``'s atomic writers."""
    done, real = [], stemgen.fileio.os.replace

    def replace(src, dst):
        done.append((Path(src), Path(dst)))
        real(src, dst)

    monkeypatch.setattr(stemgen.fileio.os, "replace", replace)
    return done


def written(renames, path: Path) -> bool:
    return any(dst == path and is_partial_file(src) and src.parent == path.parent for src, dst in renames)


def test_part_model_example_cache_is_written_atomically(renames, tmp_path):
    from stemgen.midi.context import RoleComponents
    from stemgen.midi.examples import SongExample, _load, _save

    t = 8
    role = RoleComponents(np.ones((12, t), np.float32), np.full(t, 40, np.int16), np.zeros((3, t), np.float32),
                          np.arange(t, dtype=np.float32), np.zeros((72, t), np.float32))
    ex = SongExample("song.mid", t, np.zeros((6, t), np.float32), {"bass": role},
                     {"bass": {"onset": np.eye(t, dtype=np.float32)}}, {"bass": "Add bass"},
                     {"bass": np.full(384, 0.5, np.float32)})
    out = tmp_path / "cache" / "song.npz"
    _save(ex, out)
    assert written(renames, out) and sorted(p.name for p in out.parent.iterdir()) == ["song.npz"]
    back = _load("song.mid", out)
    assert np.array_equal(back.components["bass"].loudness, role.loudness) and back.instructions == ex.instructions


def test_evaluation_figures_are_written_atomically(renames, tmp_path):
    from stemgen.evaluation.report.plots import _pyplot, _save

    fig = _pyplot().figure()
    out = _save(fig, tmp_path / "figs" / "bars.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and written(renames, out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["bars.png"]


def test_model_cards_have_one_atomic_writer(renames, tmp_path):
    from stemgen.midi.cards import write_model_card
    from stemgen.pipelines.model_card import render_model_card

    folder = tmp_path / "band-bass"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "midi" / "band-bass", folder)
    (folder / "README.md").unlink()
    card = write_model_card(folder)
    assert card == folder / "README.md" and written(renames, card) and "adds bass" in card.read_text()

    text = render_model_card({"stem": "drums", "license": "CC-BY-4.0", "base_model": "base/x"}, {"unet": "U"})
    card = write_card(tmp_path / "diffusion", text)
    assert written(renames, card) and card.read_text(encoding="utf-8") == text
    assert text.startswith("---\nlicense: CC-BY-4.0\nlibrary_name: diffusers\npipeline_tag: audio-to-audio\n"
                           "tags:\n- stemgen\n- subtractive-training\n- stem-insertion\n- drums\nbase_model: base/x\n---\n")


def test_front_matter_lists_items_a_line_and_leaves_out_none():
    assert front_matter({"license": "mit", "tags": ["a", "b"], "base_model": None}) == (
        "---\nlicense: mit\ntags:\n- a\n- b\n---")
