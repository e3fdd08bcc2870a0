"""The wheel installs one import package, ``paretoforge``, and imports in a fresh venv."""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True, capture_output=True, text=True,
    )
    (whl,) = out.glob("paretoforge-*.whl")
    return whl


def test_wheel_has_only_the_paretoforge_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"paretoforge", next(t for t in tops if t.endswith(".dist-info"))}
    for sub in ("search", "spaces", "evaluators", "predictors", "kernels"):
        assert f"paretoforge/{sub}/__init__.py" in names
    assert not any(re.match(r"paretoforge/(tests|benchmarks)/", n) for n in names)
    for proxy in ("synflow", "naswot"):  # zero-cost proxy tables
        assert f"paretoforge/search/problems/data/nasbench201_{proxy}.npy" in names


def test_wheel_imports_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # install the wheel with this interpreter's pip into the fresh venv only
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", purelib, str(wheel)],
                   check=True, capture_output=True, text=True)
    # dependencies (numpy, torch, optuna...) come from the test environment, *after* the venv's own
    deps = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    (Path(purelib) / "zz_deps.pth").write_text("\n".join(deps) + "\n")
    code = (
        "import paretoforge, paretoforge.search, paretoforge.spaces, paretoforge.evaluators, "
        "paretoforge.predictors, paretoforge.kernels, paretoforge.search.cli;"
        "print(paretoforge.__file__)"
    )
    out = subprocess.run([str(py), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip().startswith(str(env_dir))
    # the wheel installs one top-level name: no generic 'search' or 'kernels' beside it (a
    # dependency may bring its own, e.g. Hugging Face's 'kernels' distribution with transformers)
    top = {p.name for p in Path(purelib).iterdir() if (p / "__init__.py").is_file() or p.suffix == ".py"}
    assert top == {"paretoforge"}, top
