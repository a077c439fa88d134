"""Fuzz placer's loaders and `solve` for a while and count what happened.

Every input must end in exit 0, 1 or 2 with no traceback, and a rejected input must not
leave an output file. Inputs: mutated example files, random bytes, random structured
documents. Failing inputs are saved under benchmarks/results/fuzz-failures/.

    python benchmarks/fuzz.py --seconds 600          # random mutations, seeded
    python benchmarks/fuzz.py --atheris -atheris_runs=20000   # coverage-guided (atheris)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzzing import check_clean, mutate  # noqa: E402

EXAMPLES = ROOT / "examples"
FAILURES = ROOT / "benchmarks" / "results" / "fuzz-failures"
SUFFIXES = (".yaml", ".json", ".csv", ".parquet")


def seeds() -> dict[str, str]:
    found = {p.name: p.read_text() for p in sorted(EXAMPLES.glob("*.yaml"))}
    found["fleet-table.csv"] = (EXAMPLES / "fleet-table.csv").read_text()
    return found


def random_document(rng: random.Random, depth: int = 0) -> object:
    keys = ["name", "kind", "chip_hours", "chips", "workloads", "policy", "max_share",
            "residency", "runs_on", "port_usd", "spread", "data", "horizon_days", "x"]
    choice = rng.randrange(7 if depth < 3 else 4)
    if choice == 0:
        return rng.choice([None, True, False, "training", "inference", "EU", "cuda"])
    if choice == 1:
        return rng.choice([0, -1, 1, 0.5, 1e9, 1e308, float("inf"), 2**64])
    if choice == 2:
        return "".join(rng.choice("abcXYZ/_-: 0123") for _ in range(rng.randrange(8)))
    if choice == 3:
        return rng.randrange(-5, 100)
    if choice in (4, 5):
        return {rng.choice(keys): random_document(rng, depth + 1)
                for _ in range(rng.randrange(5))}
    return [random_document(rng, depth + 1) for _ in range(rng.randrange(4))]


def one_input(rng: random.Random, folder: Path, corpus: dict[str, str]) -> tuple[Path, str]:
    kind = rng.randrange(3)
    if kind == 0:
        name = rng.choice(sorted(corpus))
        path = folder / name
        path.write_text(mutate(corpus[name], rng, rng.randrange(1, 8)), encoding="utf-8",
                        errors="surrogatepass")
        return path, "mutated"
    if kind == 1:
        path = folder / f"input{rng.choice(SUFFIXES)}"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(300))))
        return path, "bytes"
    document = random_document(rng)
    if rng.random() < 0.5:
        path = folder / "fleet.json"
        path.write_text(json.dumps(document))
    else:
        path = folder / "fleet.yaml"
        path.write_text(yaml.safe_dump(document))
    return path, "structured"


def run(seconds: float, seed: int) -> None:
    rng = random.Random(seed)
    corpus = seeds()
    outcomes: Counter[str] = Counter()
    failures = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        while time.monotonic() - started < seconds:
            for old in folder.iterdir():
                old.unlink()
            path, kind = one_input(rng, folder, corpus)
            try:
                code, solve_code = check_clean(path, folder / "plan.json")
                outcomes[f"{kind}: validate {code}, solve {solve_code}"] += 1
            except AssertionError as exc:
                failures += 1
                FAILURES.mkdir(parents=True, exist_ok=True)
                saved = FAILURES / f"{failures:04d}-{path.name}"
                saved.write_bytes(path.read_bytes())
                print(f"FAILURE saved to {saved}: {str(exc)[:200]}", flush=True)
    total = sum(outcomes.values()) + failures
    print(f"{total:,} inputs in {seconds:g} s (seed {seed}); {failures} failures")
    for key, count in sorted(outcomes.items()):
        print(f"  {count:>8,}  {key}")


def run_atheris() -> None:
    import atheris

    folder = Path(tempfile.mkdtemp())
    counter = Counter()

    def test_one(data: bytes) -> None:
        if not data:
            return
        path = folder / f"input{SUFFIXES[data[0] % len(SUFFIXES)]}"
        path.write_bytes(data[1:])
        out = folder / "plan.json"
        if out.exists():
            out.unlink()
        check_clean(path, out, solve=data[0] % 4 == 0)
        counter["inputs"] += 1

    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--atheris", action="store_true")
    args, rest = parser.parse_known_args()
    if args.atheris:
        sys.argv = [sys.argv[0], *rest]
        run_atheris()
    else:
        run(args.seconds, args.seed)


if __name__ == "__main__":
    main()
