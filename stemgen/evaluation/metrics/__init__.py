"""Metrics with known answers on synthetic signals (see ``tests/test_eval_metrics.py``).

Each module has one concern: ``rhythm`` (beats, grid, tempo), ``frechet`` (set distance),
``embedding`` (audio -> vector for the Fréchet distance), ``presence`` (levels, context).
"""
