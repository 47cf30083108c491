"""Instructions for Subtractive Training: one sentence asking to add the missing stem back.

>>> from stemgen.instructions import InstructionRequest, make_writer
>>> writer = make_writer()  # LLM writer if OPENAI_BASE_URL + STEMGEN_LLM_MODEL are set, else offline
>>> [r.origin for r in writer.write([InstructionRequest("drums", "funky groove", {"tempo_bpm": 100}, ("funk",))])]
['fallback']
"""

from .base import InstructionWriter
from .cache import InstructionCache
from .factory import make_writer
from .offline import OfflineWriter, compose_instruction
from .request import ORIGINS, InstructionRequest, InstructionResult, Origin
from .validate import InvalidInstruction, validate_instruction


def __getattr__(name: str):
    # LLMWriter pulls in openai: import it only when asked for.
    if name == "LLMWriter":
        from .llm import LLMWriter

        return LLMWriter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "InstructionRequest", "InstructionResult", "InstructionWriter", "InstructionCache", "LLMWriter",
    "OfflineWriter", "Origin", "ORIGINS", "compose_instruction", "make_writer", "InvalidInstruction",
    "validate_instruction",
]
