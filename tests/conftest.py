"""Shared test fixtures: paths into ../shared/data and offline settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "STEMGEN_LLM_MODEL"):
    os.environ.pop(var, None)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (set STEMGEN_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def slakh_track(shared_data) -> Path:
    return shared_data / "slakh_fixture_track00001"


@pytest.fixture(scope="session")
def musdb_song(shared_data) -> Path:
    return shared_data / "real_stems" / "musdb18_7s_music_delta_80s_rock"


@pytest.fixture(scope="session")
def band_midi_dir(shared_data) -> Path:
    return shared_data / "tegridy_band_midi_nc" / "midi"


@pytest.fixture(scope="session")
def groove_dir(shared_data) -> Path:
    return shared_data / "groove_midi"


@pytest.fixture(scope="session")
def demo_mixes(shared_data) -> Path:
    return shared_data / "demo_mixes"


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a test module: on a small shared machine, extra OpenMP
    threads spin-wait and were measured to run ~10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
