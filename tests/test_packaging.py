"""Packaging: conda envs agree with pyproject pins, stage CLIs answer --help, the workflow lints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from srtrack.cli import STAGES

ENVS = sorted((REPO / "envs").glob("*.yaml"))
CORE = {"torch", "timm", "snakemake", "mlflow", "pandas", "opencv-python-headless", "submitit"}


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, sep, version = requirement.partition("==")
        assert sep, f"pyproject dependency {requirement!r} is not pinned with =="
        pins[name.lower()] = version
    return pins


def test_core_dependencies_are_declared() -> None:
    assert CORE <= set(pyproject_pins())
    assert "opencv-python" not in pyproject_pins(), "use the headless wheel: cluster nodes have no libGL"


def test_env_families_exist() -> None:
    assert [p.stem for p in ENVS] == ["data", "eval", "train"]


@pytest.mark.parametrize("env_file", ENVS, ids=lambda p: p.stem)
def test_env_parses_and_agrees_with_pyproject(env_file: Path) -> None:
    env = yaml.safe_load(env_file.read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(re.fullmatch(r"python =3\.1[12]", d) for d in conda), conda
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    pins = pyproject_pins()
    for line in pip:
        name, sep, version = line.partition("==")
        assert sep, f"{env_file.name}: {line!r} is not an exact pin"
        assert pins.get(name.lower()) == version, f"{env_file.name}: {line} but pyproject pins {pins.get(name.lower())}"
    names = {line.partition("==")[0] for line in pip}
    assert {"mlflow", "pyyaml", "jsonschema"} <= names, "every stage imports srtrack.config and srtrack.mlflow_runs"
    if env_file.stem in ("train", "eval"):
        assert {"torch", "torchvision", "timm"} <= names


@pytest.mark.parametrize("stage", STAGES)
def test_stage_cli_help(stage: str) -> None:
    result = subprocess.run([sys.executable, "-m", f"srtrack.{stage}", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--config" in result.stdout
    assert "usage:" in result.stdout


def test_console_script_dispatches() -> None:
    from srtrack.cli import main

    assert main(["nosuchstage"]) == 2
    for stage in ("prepare", "report"):
        with pytest.raises(SystemExit) as info:
            main([stage, "--help"])
        assert info.value.code == 0


def _bin(tool: str) -> str:
    return str(Path(sys.executable).parent / tool)


@pytest.mark.slow
def test_snakemake_lint_is_clean() -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run([_bin("snakemake"), "--lint"], cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr


def test_every_rule_runs_under_the_usage_record() -> None:
    """Each rule's command starts with the job's usage record (srtrack.job_usage), once."""
    import re

    for path in sorted((REPO / "workflow/rules").glob("*.smk")):
        text = path.read_text()
        rules = len(re.findall(r"^\s*rule(\s+\w+)?:", text, flags=re.MULTILINE))
        commands = re.findall(r'^\s*shell:\n\s*"([^"]*)', text, flags=re.MULTILINE)
        assert len(commands) == rules, (path.name, rules, commands)
        assert all(c.startswith("python -m srtrack.job_usage {log.usage} ") for c in commands), (path.name, commands)


def test_snakefmt_is_clean() -> None:
    files = ["Snakefile", "workflow"]
    result = subprocess.run([_bin("snakefmt"), "--check", *files], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
