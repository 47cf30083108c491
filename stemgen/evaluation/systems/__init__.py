"""Systems that fill the missing stem of an evaluation example.

``base`` defines ``System``/``SystemOutput``; ``baselines`` has *context only*, *random stem*,
*tempo-aligned retrieval* and *oracle*; ``model`` wraps a trained stemgen model. ``make_systems``
builds them by name.
"""

from stemgen.evaluation.systems.base import SYSTEM_NAMES, ReferenceAnalysis, System, SystemOutput, make_systems

__all__ = ["SYSTEM_NAMES", "ReferenceAnalysis", "System", "SystemOutput", "make_systems"]
