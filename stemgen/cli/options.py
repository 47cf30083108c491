"""One place that checks every numeric and text option of every command before any work.

Each numeric option (``int`` or ``float``) of every ``stemgen`` command has a ``Rule`` here: the
value must be finite and inside the rule's range, else the command stops with a one-line
``error: --option: ...`` (and ``{"error": ...}`` with ``--json``), exit 2, before its body runs.
The root command group installs the check on every subcommand (``CheckedGroup``), and
``tests/test_cli_options.py`` walks every command so that a new numeric option without a rule
fails the suite. Text options must be valid Unicode (``stemgen.instructions.unicode``: bytes
that are not UTF-8 arrive as lone surrogates). The web page checks its own controls
(``ui/handlers.py``) and its text with ``unicode_problem``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import wraps
from typing import Any, Callable

from typer.core import TyperGroup

from stemgen.audio.io import MAX_DURATION_S

# numpy's and torch's seeds take 0 .. 2**32 - 1
SEED_MAX = 2**32 - 1


@dataclass(frozen=True)
class Rule:
    """Allowed values: ``lo <= x <= hi`` (``<`` where ``lo_open`` / ``hi_open``); always finite."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why ``value`` is not allowed, or None."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number (got {value})"
        low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if low_bad or high_bad:
            return f"must be {self.describe()} (got {_number(value)})"
        return None

    def describe(self) -> str:
        low = None if self.lo is None else f"{'>' if self.lo_open else '>='} {_number(self.lo)}"
        high = None if self.hi is None else f"{'<' if self.hi_open else '<='} {_number(self.hi)}"
        return " and ".join(p for p in (low, high) if p)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _at_least(lo: float, hi: float | None = None) -> Rule:
    return Rule(lo=lo, hi=hi)


_SHARE = Rule(0.0, 1.0)  # a probability or a share
_SEED = Rule(0, SEED_MAX)
_THREADS_OR_DEFAULT = Rule(0, 1024)  # 0 = the library's default
_GUIDANCE = Rule(0.0, 100.0)

# By parameter name; "<command path>:<name>" overrides a name for one command.
RULES: dict[str, Rule] = {
    # shared
    "seed": _SEED,
    "split_seed": _SEED,
    "density": Rule(0.1, 4.0),
    "level": Rule(-40.0, 20.0),  # = stemgen.arranger.loudness.LEVEL_DB_RANGE (the API checks the same)
    "temperature": Rule(0.0, 3.0),  # stemgen.midi.sampling.MAX_TEMPERATURE
    "takes": Rule(1, 100),
    "threads": Rule(1, 1024),
    "max_songs": _at_least(1),
    "batch_size": Rule(1, 4096),
    "lr": Rule(0.0, 1.0, lo_open=True),
    # generate / eval (diffusion sampling)
    "audio_guidance": _GUIDANCE,
    "text_guidance": _GUIDANCE,
    "steps": Rule(1, 1000),
    "overlap": Rule(0.0, 60.0),
    "max_duration": Rule(1.0, MAX_DURATION_S),
    "max_examples": _at_least(1),
    "audio_examples": Rule(0, 1000),
    # train (diffusion)
    "max_steps": Rule(1, 10**8),
    "grad_accum": Rule(1, 4096),
    "warmup_steps": Rule(0, 10**8),
    "lora_rank": Rule(0, 1024),
    "ema_decay": Rule(0.0, 1.0, hi_open=True),
    "cond_dropout_text": _SHARE,
    "cond_dropout_audio": _SHARE,
    "cond_dropout_both": _SHARE,
    "checkpoint_every": _at_least(1),
    "keep_checkpoints": _at_least(1),
    "validate_every": _at_least(1),
    "num_validation": Rule(0, 1000),
    "num_workers": Rule(0, 256),
    # ui
    "port": Rule(1, 65535),
    "max_file_mb": Rule(0.1, 100_000.0),
    "max_audio_seconds": Rule(1.0, 86_400.0),
    "max_midi_seconds": Rule(1.0, 86_400.0),
    "concurrency": Rule(1, 64),
    # dataset build (--hop also has a lower bound from the preset's window: see the command)
    "hop": Rule(0.01, 3600.0),
    "min_stem_db": Rule(-200.0, 0.0),
    "min_context_db": Rule(-200.0, 0.0),
    "variants": Rule(1, 100),
    "workers": Rule(1, 1024),
    "llm_concurrency": Rule(1, 256),
    # beat-grid corrections (generate, analyze; stemgen.analysis.overrides)
    "bpm": Rule(20.0, 400.0),
    "downbeat": Rule(0.0, MAX_DURATION_S),
    # midi
    "midi generate:threads": _THREADS_OR_DEFAULT,
    "midi train:threads": _THREADS_OR_DEFAULT,
    "midi batch:workers": Rule(0, 1024),  # 0 = one per core
    "midi train:steps": Rule(1, 10**8),
    "midi train-arranger:steps": Rule(1, 10**8),
    "min_grid_match": _SHARE,
    "text_drop": _SHARE,
    "time_limit": Rule(0.0, 10**8, lo_open=True),
    "width": Rule(1, 4096),
    "blocks": Rule(1, 256),
    "dropout": Rule(0.0, 1.0, hi_open=True),
}


def rule_for(command_path: str, name: str) -> Rule | None:
    """The rule of option ``name`` of the command ``command_path`` (e.g. "midi generate")."""
    return RULES.get(f"{command_path}:{name}", RULES.get(name))


def check_number(option: str, value: Any, rule: Rule) -> str | None:
    """The one-line complaint about ``value`` for ``option`` (e.g. "--hop"), or None if allowed."""
    if value is None or isinstance(value, bool):
        return None
    problem = rule.problem(value)
    return f"{option}: {problem}" if problem else None


def numeric_params(command) -> list:
    """The ``int`` and ``float`` parameters of one (leaf) command."""
    out = []
    for param in command.params:
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if annotation in (int, float):
            out.append(param)
    return out


def text_params(command) -> list:
    """The ``str`` parameters of one (leaf) command (paths are not text: any bytes are allowed)."""
    return [p for p in command.params if getattr(getattr(p, "type_descriptor", None), "annotation", None) is str]


def _display_name(param) -> str:
    return max(param.opts, key=len) if param.param_type_name == "option" and param.opts else param.name.upper()


def leaf_commands(command, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """Every runnable command under ``command`` with its path ("dataset build")."""
    children = getattr(command, "commands", None)
    if children is None:
        return [(" ".join(path), command)]
    return [leaf for name, child in children.items() for leaf in leaf_commands(child, (*path, name))]


def _one_of(*allowed: str) -> Callable[[str], str | None]:
    return lambda v: None if v in allowed else f"must be one of {', '.join(allowed)} (got {v!r})"


def _scheduler(value: str) -> str | None:
    from stemgen.api import canonical_scheduler_name

    try:
        canonical_scheduler_name(value)
        return None
    except ValueError as exc:
        return str(exc)


def _midi_tempo(value: str) -> str | None:
    from stemgen.api import MIDI_TEMPOS

    return _one_of(*MIDI_TEMPOS)(value)


def _preset(value: str) -> str | None:
    from stemgen.codec.config import PRESETS

    return None if value in PRESETS else f"unknown preset {value!r} (choose from {', '.join(PRESETS)})"


def _device(value: str) -> str | None:
    import re

    return None if re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value) else f"must be auto, cpu, cuda or cuda:N (got {value!r})"


def _model_preset(value: str) -> str | None:
    from stemgen.models.configs import MODEL_PRESETS

    return None if value in MODEL_PRESETS else f"unknown preset {value!r} (choose from {', '.join(MODEL_PRESETS)})"


# Text options whose values come from a fixed set, by parameter name (as RULES).
TEXT_RULES: dict[str, Callable[[str], str | None]] = {
    "continuity": _one_of("inpaint", "crossfade"),
    "midi_tempo": _midi_tempo,
    "scheduler": _scheduler,
    "device": _device,
    "preset": _preset,
    "train:preset": _model_preset,
    "midi eval:split": _one_of("train", "valid", "test", "all"),
}


def check_text(option: str, value: Any, rule: Callable[[str], str | None] | None = None) -> str | None:
    """The one-line complaint about a text option that is not valid Unicode (undecodable bytes)
    or not one of the values ``rule`` allows."""
    from stemgen.instructions.unicode import unicode_problem

    if not isinstance(value, str):
        return None
    problem = unicode_problem(value) or (rule(value) if rule else None)
    return f"{option}: {problem}" if problem else None


def _checked(callback: Callable, checks: list[tuple[str, str, Any]]) -> Callable:
    @wraps(callback)
    def run(*args, **kwargs):
        for name, option, rule in checks:
            value = kwargs.get(name)
            complaint = check_number(option, value, rule) if isinstance(rule, Rule) else check_text(option, value, rule)
            if complaint:
                from stemgen.cli.common import EXIT_USAGE, fail

                raise fail(complaint, EXIT_USAGE, as_json=bool(kwargs.get("as_json")))
        return callback(*args, **kwargs)

    run.__stemgen_checked__ = True
    return run


def install_checks(root) -> None:
    """Wrap every command's callback under ``root`` so that its numeric options are checked first.

    An option without a rule is still checked for finiteness (the suite requires a rule)."""
    for path, command in leaf_commands(root):
        if command.callback is None or getattr(command.callback, "__stemgen_checked__", False):
            continue
        checks = []
        for param in numeric_params(command):
            rule = rule_for(path, param.name) or Rule()
            checks.append((param.name, _display_name(param), rule))
            if rule.describe() and not (param.help or "").endswith("]"):  # --help shows the range
                param.help = f"{param.help or ''} [{rule.describe()}]".strip()
        for param in text_params(command):
            checks.append((param.name, _display_name(param), TEXT_RULES.get(f"{path}:{param.name}", TEXT_RULES.get(param.name))))
        if checks:
            command.callback = _checked(command.callback, checks)


class CheckedGroup(TyperGroup):
    """The root ``stemgen`` group: installs the option checks on every subcommand."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        install_checks(self)
