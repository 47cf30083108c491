"""Prompt templates for the instruction writer (text files read with importlib.resources)."""
