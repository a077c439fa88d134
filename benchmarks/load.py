"""How long a generated fleet takes to load (`placer.load`: read, validate, build the
problem) from each file format, and its peak memory; YAML also by PyYAML's own parser
alone, as on a machine without libyaml, with the ratio between the two.

    python benchmarks/load.py                 # 10,000 and 100,000 workloads
    python benchmarks/load.py --sizes 1000

Each load runs in a fresh process, so that its peak memory (VmHWM) is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.generate import generate  # noqa: E402
from benchmarks.run import peak_mb  # noqa: E402

# libyaml's emitter where PyYAML has it: PyYAML's own takes minutes at 100,000
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# (what the line says, the file's format, whether PyYAML's own parser reads it)
LOADS = (("yaml", "yaml", False), ("yaml, PyYAML's parser", "yaml", True),
         ("json", "json", False), ("csv", "csv", False), ("parquet", "parquet", False))


def write_fleet(n: int, seed: int, folder: Path) -> dict[str, Path]:
    """The generated fleet of `n` workloads as a fleet file in each format."""
    instance = generate(n, seed)
    paths = {fmt: folder / f"fleet.{fmt}" for fmt in ("yaml", "json", "csv", "parquet")}
    paths["yaml"].write_text(yaml.dump(instance.fleet(), Dumper=DUMPER, sort_keys=False))
    paths["json"].write_text(json.dumps(instance.fleet()))
    table = instance.table()
    table.write_csv(paths["csv"])
    table.write_parquet(paths["parquet"])
    return paths


def load_once(path: Path, pyyaml_parser: bool) -> dict[str, float]:
    """Load `path` in this process: seconds, workloads and peak memory (MB)."""
    import placer.io
    from placer.problem import load

    if pyyaml_parser:
        placer.io.WITH_LIBYAML = False
    started = time.perf_counter()
    problem = load(path)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "workloads": len(problem.workloads),
            "peak_mb": peak_mb()}


def load_in_child(path: Path, pyyaml_parser: bool) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(path),
                          "pyyaml" if pyyaml_parser else "default"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        path, parser_name = args.child
        print(json.dumps(load_once(Path(path), pyyaml_parser=parser_name == "pyyaml")))
        return
    print(f"{'workloads':>10}  {'format':<24}{'load s':>8}{'peak MB':>9}  file")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            paths = write_fleet(n, args.seed, Path(folder))
            seconds: dict[str, float] = {}
            for label, fmt, pyyaml_parser in LOADS:
                run = load_in_child(paths[fmt], pyyaml_parser)
                assert run["workloads"] == n, run
                seconds[label] = run["seconds"]
                size = paths[fmt].stat().st_size / 1e6
                print(f"{n:>10,}  {label:<24}{run['seconds']:>8.2f}{run['peak_mb']:>9,.0f}"
                      f"  {size:,.1f} MB", flush=True)
            print(f"{'':>10}  YAML as read / by PyYAML's parser alone: "
                  f"{seconds['yaml'] / seconds[LOADS[1][0]]:.3f}", flush=True)


if __name__ == "__main__":
    main()
