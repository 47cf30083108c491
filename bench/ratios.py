"""Add ``reference_s`` and ``ratio_to_reference`` to benchmark JSON lines (stdin -> stdout).

    python bench/ratios.py REFERENCE_LINES.jsonl < bench_output > with_ratios

See ``bench_reference.py`` for why and how ratios are computed. Lines that are not JSON, or
whose unit is neither a time nor a throughput, pass through unchanged.
"""

from __future__ import annotations

import json
import sys

TIME_UNITS = {"s": 1.0, "ms": 1e-3}


def load_reference(path: str) -> dict[str, float]:
    """``{"cpu": seconds, "cuda": seconds}`` from bench_reference.py's lines."""
    ref: dict[str, float] = {}
    with open(path) as f:
        for line in f:
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if d.get("name") == "reference_s":
                ref["cpu"] = float(d["figure"])
            elif d.get("name") == "reference_cuda_s":
                ref["cuda"] = float(d["figure"])
    return ref


def with_ratio(line: dict, ref: dict[str, float]) -> dict:
    unit = str(line.get("unit", ""))
    kind = "cuda" if str(line.get("device", "")).startswith("cuda") and "cuda" in ref else "cpu"
    ref_s = ref.get(kind)
    if not ref_s or not isinstance(line.get("figure"), (int, float)):
        return line
    base = unit.split("/")[0]
    if base in TIME_UNITS and (unit == base or "/" in unit):
        ratio = line["figure"] * TIME_UNITS[base] / ref_s
    elif unit.endswith("/s") or "realtime" in unit:
        ratio = line["figure"] * ref_s
    else:
        return line
    return {**line, "reference_s": ref_s, "reference_device": kind, "ratio_to_reference": round(ratio, 4)}


def main() -> None:
    ref = load_reference(sys.argv[1])
    for raw in sys.stdin:
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            sys.stdout.write(raw)
            continue
        print(json.dumps(with_ratio(line, ref) if isinstance(line, dict) else line), flush=True)


if __name__ == "__main__":
    main()
