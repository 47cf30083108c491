"""Every numeric option of every command is checked before any work (stemgen.cli.options).

The test walks the whole command tree, so a new numeric option without a rule fails here; each
option is then given NaN, infinity and a value outside its range: exit 2, one ``error:`` line
naming the option, and the command body never runs (the arguments are dummies).
"""

from __future__ import annotations

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from stemgen.cli.main import app
from stemgen.cli.options import leaf_commands, numeric_params, rule_for

runner = CliRunner()
ROOT = typer.main.get_command(app)
COMMANDS = dict(leaf_commands(ROOT))
NUMERIC = [(path, p) for path, cmd in COMMANDS.items() for p in numeric_params(cmd)]


def _option(param) -> str:
    return max(param.opts, key=len)


def _required_args(command) -> list[str]:
    """Dummy values for the required parameters, so that parsing reaches the checks."""
    args = []
    for p in command.params:
        if not p.required:
            continue
        value = "drums" if p.name == "stem" else "/nonexistent/stemgen-dummy"
        args += [value] if p.param_type_name == "argument" else [_option(p), value]
    return args


def test_the_walk_sees_every_command():
    assert {"generate", "eval", "train", "ui", "dataset build", "midi generate", "midi batch", "midi train",
            "midi eval"} <= set(COMMANDS)
    assert len(NUMERIC) >= 60


@pytest.mark.parametrize("path,param", NUMERIC, ids=[f"{p}:{q.name}" for p, q in NUMERIC])
def test_every_numeric_option_has_a_rule_its_default_passes(path, param):
    rule = rule_for(path, param.name)
    assert rule is not None, f"stemgen {path} {_option(param)}: add a Rule to stemgen.cli.options.RULES"
    assert rule.lo is not None and rule.hi is not None or param.name in {"max_songs", "max_examples", "checkpoint_every",
                                                                          "keep_checkpoints", "validate_every"}
    if param.default is not None:
        assert rule.problem(param.default) is None, (path, param.name, param.default)


def _bad_values(path, param) -> list[str]:
    rule = rule_for(path, param.name)
    is_float = param.type_descriptor.annotation is float
    values = ["nan", "inf", "-inf"] if is_float else []
    if rule.lo is not None:
        values.append(repr(rule.lo if rule.lo_open else (rule.lo - (0.5 if is_float else 1))) if is_float
                      else str(int(rule.lo) - 1))
    if rule.hi is not None:
        values.append(repr(float(rule.hi) if rule.hi_open else rule.hi * 2 + 1) if is_float else str(int(rule.hi) + 1))
    return values


CASES = [(path, p, v) for path, p in NUMERIC for v in _bad_values(path, p)]


@pytest.mark.parametrize("path,param,value", CASES, ids=[f"{p}:{q.name}={v}" for p, q, v in CASES])
def test_out_of_range_or_non_finite_values_exit_2_naming_the_option(path, param, value):
    args = path.split() + _required_args(COMMANDS[path]) + [_option(param), value]
    with_json = any(p.name == "as_json" for p in COMMANDS[path].params)
    res = runner.invoke(app, args + (["--json"] if with_json else []))
    assert res.exit_code == 2, (args, res.output)
    assert "Traceback" not in res.output and (res.exception is None or isinstance(res.exception, SystemExit))
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and errors[0].startswith(f"error: {_option(param)}: must be"), res.stderr
    if with_json:
        assert json.loads(res.stdout)["error"].startswith(_option(param))  # valid JSON, no NaN


def test_the_reported_cases():
    """The issue's cases: hop 0 / negative / tiny, NaN and huge guidance, steps 0 and -3, threads -5."""
    for args, option in [
        (["dataset", "build", "x", "--out", "/tmp/stemgen-nothing", "--stem", "drums", "--hop", "0"], "--hop"),
        (["dataset", "build", "x", "--out", "/tmp/stemgen-nothing", "--stem", "drums", "--hop", "-2"], "--hop"),
        (["dataset", "build", "x", "--out", "/tmp/stemgen-nothing", "--stem", "drums", "--hop", "0.001"], "--hop"),
        (["dataset", "build", "x", "--out", "/tmp/stemgen-nothing", "--stem", "drums", "--preset", "tiny",
          "--hop", "0.05"], "--hop"),  # above the static floor, below 1/16 of the window
        (["generate", "x.wav", "--engine", "diffusion", "--audio-guidance", "nan"], "--audio-guidance"),
        (["generate", "x.wav", "--text-guidance", "inf"], "--text-guidance"),
        (["generate", "x.wav", "--text-guidance", "1e30"], "--text-guidance"),
        (["eval", "--data", "x", "--out", "y", "--steps", "0"], "--steps"),
        (["eval", "--data", "x", "--out", "y", "--steps", "-3"], "--steps"),
        (["midi", "generate", "x.mid", "--stem", "drums", "--out", "y.mid", "--threads", "-5"], "--threads"),
    ]:
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and res.stderr.startswith(f"error: {option}: must be"), (args, res.output)
    assert not __import__("os").path.exists("/tmp/stemgen-nothing")


def test_values_inside_the_range_pass_the_check():
    from stemgen.cli.options import Rule, check_number

    assert check_number("--x", 0.5, Rule(0.0, 1.0)) is None
    assert check_number("--x", 1.0, Rule(0.0, 1.0, hi_open=True)) == "--x: must be >= 0 and < 1 (got 1)"
    assert "finite" in check_number("--x", math.nan, Rule())
    assert check_number("--x", None, Rule(1, 2)) is None  # an unset optional option


from stemgen.cli.options import TEXT_RULES, text_params  # noqa: E402

TEXT = [(path, p) for path, cmd in COMMANDS.items() for p in text_params(cmd) if p.param_type_name == "option"]


def _text_rule(path, name):
    return TEXT_RULES.get(f"{path}:{name}", TEXT_RULES.get(name))


@pytest.mark.parametrize("path,param", TEXT, ids=[f"{p}:{q.name}" for p, q in TEXT])
def test_every_text_option_refuses_bytes_that_are_not_utf8(path, param):
    """Undecodable argv bytes arrive as lone surrogates: refused naming the option, exit 2."""
    option = _option(param)
    args = path.split() + _required_args(COMMANDS[path])
    if param.required:  # replace the dummy given by _required_args
        i = args.index(option)
        args = args[:i] + args[i + 2:]
    res = runner.invoke(app, args + [option, "x\udcff"])
    assert res.exit_code == 2, (args, res.output)
    assert res.stderr.startswith(f"error: {option}: not valid text: the byte 0xff"), res.stderr


RULED = [(path, p) for path, p in TEXT if _text_rule(path, p.name)]


@pytest.mark.parametrize("path,param", RULED, ids=[f"{p}:{q.name}" for p, q in RULED])
def test_text_options_from_a_fixed_set_refuse_other_values(path, param):
    rule = _text_rule(path, param.name)
    assert param.default is None or rule(param.default) is None, (path, param.name, param.default)
    res = runner.invoke(app, path.split() + _required_args(COMMANDS[path]) + [_option(param), "bogus"])
    assert res.exit_code == 2 and res.stderr.startswith(f"error: {_option(param)}: "), res.output


def test_splits_are_checked_before_any_work(tmp_path):
    for splits in ("nan,0.1,0.1", "1,-1,1", "abc", "0,0,0", "inf,1,1"):
        res = runner.invoke(app, ["dataset", "build", "x", "--out", str(tmp_path / "ds"), "--stem", "drums",
                                  "--splits", splits])
        assert res.exit_code == 2 and res.stderr.startswith("error: --splits: split ratios must be"), res.output
    assert not (tmp_path / "ds").exists()
