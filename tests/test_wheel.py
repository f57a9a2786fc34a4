"""A wheel built from the repository carries its package data: installed into a fresh venv, ``python -m recipes
check`` works on a recipe outside the repository, and the packaged experiment matrix loads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_wheel_install_works_outside_the_repo(tmp_path):
    # without PYTHONPATH (make sets it to the repo): pip would see the repo's own metadata as installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, env=env, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    assert "absent from the `packages` configuration" not in build.stdout + build.stderr  # pyproject says what ships
    wheel = next(wheels.glob("arc_finetune-*.whl"))
    fresh = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                              str(wheel)], capture_output=True, text=True, env=env, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    # dependencies (torch, axolotl, ...) come from this venv: a .pth adds its site-packages after the fresh one's
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, env=env, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    recipe = outside / "my_recipe.yml"
    shutil.copy(ROOT / "recipes" / "smollm2_cpu.yml", recipe)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=outside, env=env, timeout=300)

    where = run("-c", "import recipes, experiments.plan as p; print(recipes.__file__); print(p.load_matrix()['runs'] "
                      "is not None); print(p.MATRIX)")
    assert where.returncode == 0, where.stderr[-3000:]
    module, loaded, matrix = where.stdout.split()
    assert Path(module).is_relative_to(fresh) and loaded == "True" and Path(matrix).is_relative_to(fresh)
    check = run("-m", "recipes", "check", str(recipe), "--root", str(ROOT))
    assert check.returncode == 0 and f"ok: {recipe}" in check.stdout, check.stdout + check.stderr
    for name in ("schema.json", "smollm2_cpu.yml", "deepspeed/zero3_offload.json"):
        assert (Path(module).parent / name).exists(), name
