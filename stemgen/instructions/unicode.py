"""Text from users must be Unicode that can be written as UTF-8.

Bytes that are not UTF-8 on a command line reach Python as lone surrogates (``\\udcff`` for the
byte 0xff), and a web form can send a lone surrogate itself (``"\\ud800"`` in JSON); either one
breaks the tokenizer, the MIDI text events and JSON output deep inside the work. They are refused
at the door, naming the field and the position.
"""

from __future__ import annotations


def unicode_problem(text: str) -> str | None:
    """Why ``text`` is not valid Unicode text, or None."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as exc:
        char = ord(text[exc.start])
        what = (f"the byte 0x{char - 0xDC00:02x}, which is not UTF-8," if 0xDC80 <= char <= 0xDCFF
                else f"a lone surrogate U+{char:04X}")
        return f"not valid text: {what} at character {exc.start + 1} (write it in UTF-8)"
