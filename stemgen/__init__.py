"""stemgen: generate a missing drum, bass or guitar stem guided by a text instruction.

Subtractive Training (arXiv 2406.19328): learn to add a stem back to a song from which it
was removed. See README.md for the command line and the Python API.
"""

__version__ = "0.1.0"

from stemgen.stems import STEMS

__all__ = ["STEMS", "__version__"]
