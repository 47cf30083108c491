"""Errors cross process boundaries intact (the dataset builder's workers raise them)."""

import pickle

from stemgen.errors import StemgenInputError


def test_input_error_pickles_with_file_and_reason():
    err = pickle.loads(pickle.dumps(StemgenInputError("/x/song.wav", "empty file (0 bytes)")))
    assert err.as_record() == {"file": "/x/song.wav", "reason": "empty file (0 bytes)"}
    assert str(err) == "/x/song.wav: empty file (0 bytes)"
