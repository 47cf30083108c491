"""stemgen.midi: the part-model family both engines share, and adding parts to MIDI arrangements.

A part model hears the other parts (``context``: 106 channels per 16th step, computable from MIDI
or from audio analysis) and an instruction (``text``: MiniLM), and writes the missing part
(``model``, ``features``: outputs and decoding). One module per concern:

* ``examples``, ``train``, ``tune``, ``cards``: subtractive examples from MIDI files, training,
  decoding settings chosen on the valid split, model cards;
* ``audio_examples``, ``arranger_train``, ``part_scores``, ``arranger_card``: the same on analysed
  audio of rendered songs (the arranger's part models; ``stemgen midi train-arranger``);
* ``generate``, ``batch``, ``render``: a new track for one MIDI file or a folder tree, and previews;
* ``metrics``, ``baselines``, ``evaluate``, ``descriptors``, ``splits``: held-out evaluation against
  rule, other-song and retrieval baselines (``stemgen midi eval``).

MIDI files themselves (reader, grid, drum map) are ``stemgen.midifile``, one layer below.
"""
