"""Packaging: the JSON Schemas ship inside the package (lagosync.schemas, mapped onto the one
schemas/ folder), so a non-editable install validates workspaces without the repository.

The wheel test builds a wheel from a copy of the sources (pip, with build isolation: it downloads
setuptools), installs it with --no-deps into a fresh venv whose dependencies come from this
interpreter's site-packages through a .pth file, and runs `lagosync validate` from outside the repo.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from lagosync.workspace import schema

ROOT = Path(__file__).resolve().parents[2]
NETWORK_HINTS = ("No matching distribution found", "Could not find a version", "NewConnectionError",
                 "Temporary failure in name resolution", "Network is unreachable", "ProxyError")


def test_schemas_are_package_data_found_by_importlib_resources():
    files = importlib.resources.files("lagosync.schemas")
    for name in schema.SCHEMA_FILES.values():
        res = files.joinpath(name)
        assert res.is_file(), name
        # one copy only: in a checkout the package data *is* the schemas/ folder editors use
        assert res.read_bytes() == (ROOT / "schemas" / name).read_bytes()
        assert schema.schema_text(name) == (ROOT / "schemas" / name).read_text(encoding="utf-8")
    assert not (ROOT / "lagosync" / "schemas").exists(), "a second copy of the schemas inside lagosync/"


def test_every_subpackage_is_listed_for_setuptools():
    """pyproject lists packages explicitly (find cannot see the remapped schemas folder): a new
    sub-package must be added there, or the wheel would miss it."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "lagosync").rglob("__init__.py")}
    assert on_disk | {"lagosync.schemas"} == listed, (on_disk | {"lagosync.schemas"}) ^ listed


def _copy_sources(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copy2(ROOT / "pyproject.toml", dest)
    shutil.copy2(ROOT / "README.md", dest)
    shutil.copytree(ROOT / "lagosync", dest / "lagosync", ignore=ignore)
    shutil.copytree(ROOT / "schemas", dest / "schemas", ignore=ignore)


def _example_copy(dest: Path) -> Path:
    dest.mkdir()
    shutil.copy2(ROOT / "lagosync.yaml", dest)
    shutil.copy2(ROOT / "orgs.yaml", dest)
    shutil.copytree(ROOT / "plans", dest / "plans")
    return dest


def test_wheel_ships_schemas_and_validates_without_the_repo(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _copy_sources(src)
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(dist)],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        out = build.stdout + build.stderr
        if os.environ.get("CI") != "true" and any(h in out for h in NETWORK_HINTS):
            pytest.skip("building a wheel needs setuptools from the package index, which is unreachable "
                        "here; required when CI=true")
        pytest.fail(out)
    (wheel,) = dist.glob("lagosync-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in schema.SCHEMA_FILES.values():
        assert f"lagosync/schemas/{name}" in names
    assert "lagosync/py.typed" in names
    for pkg in ("applier", "client", "emulator", "planner", "render", "workspace"):
        assert f"lagosync/{pkg}/__init__.py" in names, pkg

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                           "--no-index", str(wheel)], capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    # dependencies (pyyaml, jsonschema, ...) from this interpreter; a path listed in a .pth file does
    # not get its own .pth files processed, so the editable lagosync of this checkout stays invisible
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [str(py), "-c", "import importlib.resources as r, lagosync; "
         "print(lagosync.__file__); print(r.files('lagosync.schemas').joinpath('plans.schema.json'))"],
        capture_output=True, text=True, cwd=outside, env=env, timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout

    example = _example_copy(tmp_path / "example")
    lagosync = venv / "bin" / "lagosync"
    ok = subprocess.run([str(lagosync), "validate", "-w", str(example)], capture_output=True, text=True,
                        cwd=outside, env=env, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok: "), ok.stdout

    # the schemas are really in use: a schema error in the copy is reported with its file and line
    orgs = example / "orgs.yaml"
    orgs.write_text(orgs.read_text().replace("currency: USD", "currency: 12", 1))
    bad = subprocess.run([str(lagosync), "validate", "-w", str(example)], capture_output=True, text=True,
                         cwd=outside, env=env, timeout=120)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "orgs.yaml:" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
