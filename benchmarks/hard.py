"""Hard tight-capacity instances in the candidates format (thousands of rows per offering).

W workloads, each with a gang size and a cost on a random subset of O offerings (12
providers, 4 chip vendors); offerings hold only ~8 % more chips than the fleet needs in
total, the cheapest ones far less, and a 30 % provider cap couples every choice. This is
the instance the engine issue describes (2,000 workloads × 60 offerings, 30 % cap), where
a direct model found no feasible plan in 30 s.

    python benchmarks/hard.py 2000 --offerings 60 --seed 0 --out /tmp/hard-2k
    placer solve --candidates /tmp/hard-2k/candidates.parquet \
        --offerings /tmp/hard-2k/offerings.csv --policy /tmp/hard-2k/policy.yaml
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

PROVIDERS = 12
VENDORS = ("nvidia", "amd", "aws", "google")


@dataclass
class HardInstance:
    candidates: pl.DataFrame  # workload, offering, chips, cost_usd, provider, chip_vendor
    offerings: pl.DataFrame   # offering, capacity_chips
    policy: dict

    def write(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.candidates.write_parquet(folder / "candidates.parquet")
        self.offerings.write_csv(folder / "offerings.csv")
        (folder / "policy.yaml").write_text(yaml.safe_dump(self.policy))
        return folder


def generate_hard(n: int, offerings: int = 60, seed: int = 0, provider_cap: float = 0.3,
                  slack: float = 1.08) -> HardInstance:
    rng = np.random.default_rng(seed)
    provider = rng.integers(PROVIDERS, size=offerings)
    vendor = rng.integers(len(VENDORS), size=offerings)
    price = rng.uniform(1.0, 4.0, size=offerings)            # $ per chip-hour, per offering
    chips = rng.choice([8, 16, 32, 64, 128], size=n, p=[0.35, 0.3, 0.2, 0.1, 0.05])
    hours = rng.uniform(50, 400, size=n)
    per_w = max(8, offerings // 2)
    w_idx = np.repeat(np.arange(n), per_w)
    o_idx = np.concatenate([rng.choice(offerings, size=per_w, replace=False) for _ in range(n)])
    noise = rng.uniform(0.85, 1.15, size=len(w_idx))         # workload-specific efficiency
    cost = np.round(chips[w_idx] * hours[w_idx] * price[o_idx] * noise, 2)
    candidates = pl.DataFrame({
        "workload": [f"w{w:06d}" for w in w_idx],
        "offering": [f"o{o:03d}" for o in o_idx],
        "chips": chips[w_idx].astype(np.int64),
        "cost_usd": cost,
        "provider": [f"p{provider[o]:02d}" for o in o_idx],
        "chip_vendor": [VENDORS[vendor[o]] for o in o_idx],
    })
    # Capacity: the fleet's chips spread over offerings, cheapest ones starved.
    total = float(chips.sum()) * slack
    weight = rng.uniform(0.5, 1.5, size=offerings)
    weight[np.argsort(price)[: max(3, offerings // 10)]] *= 0.2
    capacity = np.maximum(np.ceil(total * weight / weight.sum()), 128).astype(np.int64)
    return HardInstance(
        candidates,
        pl.DataFrame({"offering": [f"o{o:03d}" for o in range(offerings)],
                      "capacity_chips": capacity}),
        {"max_share": {"provider": provider_cap}},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="workloads")
    parser.add_argument("--offerings", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    folder = generate_hard(args.n, args.offerings, args.seed).write(args.out)
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
