"""A wheel installed outside the repository still finds the bundled catalog."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_ships_the_catalog_and_works_outside_the_repo(tmp_path: Path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = wheels.glob("placer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for table in ("chips", "offerings", "speeds", "egress"):
        assert f"placer/models/{table}.csv" in names
    assert "placer/models/SOURCES.md" in names

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "COLUMNS": "200"}
    run = subprocess.run(
        [sys.executable, "-c",
         "import placer, placer.catalog as c, sys; print(c.default_catalog_dir());"
         "sys.argv=['placer','catalog','list','--chip','trn2','--format','csv'];"
         "import placer.cli; placer.cli.main()"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stderr
    first, *rest = run.stdout.splitlines()
    assert first == str(target / "placer" / "models")
    assert rest[1].startswith("aws,us-east-2,trn2,")
