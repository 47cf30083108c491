"""MIDI files as data: reading and writing Standard MIDI Files, the quantised multitrack grid, the
roles and drum map, and removing a part.

One module per concern: ``io`` (the one MIDI reader: ``load_midi`` -> ``MidiSong``, track bytes),
``smf`` (raw chunk/event access for byte-exact edits), ``grid`` (``SongGrid``: notes on 16th steps
of the song's own tempo map), ``lanes`` (roles, the 9-class GM drum map, pitch lanes) and
``subtract`` (a song without one part). Below ``render`` and ``analysis``; the part models
(``stemgen.midi``) and both engines build on it.
"""
