"""How SkyPilot names what placer calls chips, providers and regions.

Shared by the catalog import (SkyPilot → placer) and the task export (placer → SkyPilot).
"""

from __future__ import annotations

# SkyPilot accelerator name → placer chip, for names whose count is a number of chips.
# "A100" is the 40 GB part and is deliberately absent: placer's a100 is the 80 GB SXM.
ACCELERATOR_CHIPS: dict[str, str] = {
    "Trainium": "trn1",
    "Trainium2": "trn2",
    "Trainium3": "trn3",
    "Inferentia2": "inf2",
    "A100-80GB": "a100",
    "H100": "h100",
    "H100-MEGA": "h100",
    "H200": "h200",
    "B200": "b200",
    "GB200": "gb200",
    "MI300X": "mi300x",
    "MI325X": "mi325x",
    "MI355X": "mi355x",
}

# placer chip → the accelerator name a SkyPilot task asks for (H100-MEGA is an H100 on
# Google's a3-mega machines; a task asks for the chip).
CHIP_ACCELERATORS: dict[str, str] = {
    chip: name for name, chip in ACCELERATOR_CHIPS.items() if name != "H100-MEGA"}

# TPU slices are named tpu-<generation>-<N>; N counts chips except for v5p (and v4, v3,
# v2), where it counts TensorCores, two per chip.
TPU_CHIPS: dict[str, tuple[str, int]] = {
    "v5litepod": ("tpu-v5e", 1),
    "v5p": ("tpu-v5p", 2),
    "v6e": ("tpu-v6e", 1),
}


def tpu_accelerator(chip: str, chips: int) -> str | None:
    """The SkyPilot slice name holding `chips` chips of a placer TPU chip, if one exists."""
    for generation, (name, per_chip) in TPU_CHIPS.items():
        if name == chip:
            return f"tpu-{generation}-{chips * per_chip}"
    return None


# SkyPilot cloud name → placer provider, for the clouds placer's catalog covers.
CLOUD_PROVIDERS: dict[str, str] = {
    "aws": "aws",
    "gcp": "gcp",
    "azure": "azure",
    "oci": "oci",
    "nebius": "nebius",
    "verda": "verda",
    "seeweb": "seeweb",
    "do": "digitalocean",
}
PROVIDER_CLOUDS: dict[str, str] = {v: k for k, v in CLOUD_PROVIDERS.items()}

# Clouds whose SkyPilot region names are upper case (placer keeps region ids lower case).
UPPER_CASE_REGIONS: frozenset[str] = frozenset({"verda"})


def skypilot_region(cloud: str, region: str) -> str:
    """The region name SkyPilot uses for a placer region id."""
    return region.upper() if cloud in UPPER_CASE_REGIONS else region
