"""Shared by the fuzz test and benchmarks/fuzz.py: mutate inputs, run the CLI, check
that it fails cleanly."""

from __future__ import annotations

import io
import random
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

TOKENS = [
    ":", "-", "- ", "[", "]", "{", "}", ",", "\n", "\t", "  ", "#", "'", '"', "NaN", ".nan",
    ".inf", "-.inf", "-1", "0", "1e400", "1e-400", "99999999999999999999999", "null", "~",
    "true", "no", "NO", "&a ", "*a", "<<: *a", "!!python/object/apply:os.system ['x']",
    "\x00", "é", "🚀", "\ufeff", "chip_hours", "kind: training", "kind: inference",
    "residency: [XX]", "runs_on: [cuda]", "port_usd: {neuron: 5}", "chips: 5",
    "max_share: {provider: 2}", "horizon_days: 0", "workloads:", "policy:", "- name: x",
    "data: {region: aws/us-east-1, tb: 1}", "spread: {min_providers: 9}",
]


def mutate(text: str, rng: random.Random, rounds: int = 3) -> str:
    """A few random edits: delete, duplicate, insert a token, swap two lines."""
    for _ in range(rounds):
        op = rng.randrange(5)
        i = rng.randrange(len(text) + 1)
        j = min(len(text), i + rng.randrange(1, 40))
        if op == 0:
            text = text[:i] + text[j:]
        elif op == 1:
            text = text[:i] + text[i:j] * 2 + text[j:]
        elif op == 2:
            text = text[:i] + rng.choice(TOKENS) + text[i:]
        elif op == 3:
            lines = text.split("\n")
            if len(lines) > 1:
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        else:
            text = text[:i] + str(rng.choice([-1, 0, 1e309, 2**70, 0.5, -0.0])) + text[j:]
    return text


def run_cli(*args: str) -> tuple[int, str, str]:
    """placer's entry point in this process: (exit code, stdout, stderr)."""
    from placer.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["placer", *map(str, args)]
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


def check_clean(path: Path, out_file: Path, solve: bool = True) -> tuple[int, int]:
    """Run validate (and solve) on one input; raise AssertionError on an unclean failure."""
    code, out, err = run_cli("validate", path)
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert out == "", out
        assert err.startswith("error: "), err
    solve_code = -1
    if solve:
        solve_code, out, err = run_cli("solve", path, "--time-limit", "2", "--workers", "1",
                                       "--out", out_file, "--quiet")
        assert solve_code in (0, 1, 2), (solve_code, err)
        assert "Traceback" not in err and "internal error" not in err, err
        if solve_code == 2:
            assert not out_file.exists(), "a bad input left an output file"
        if out_file.exists():
            out_file.unlink()
    return code, solve_code
