"""`jiriaf-fw twin simulate` and `twin fit`: files written, their contents, and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image
from typer.testing import CliRunner

from jiriaf_fw.cli.app import app
from jiriaf_fw.twin import default_model, model_to_dict
from jiriaf_fw.twin.paper import OBSERVED_LQ

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SERIES_COLUMNS = (["step", "true_state", "state", "recommended", "control", "control_label", "threads", "observation",
                   "predicted_p_32c", "predicted_p_16c"] + [f"filtered_{i}" for i in range(5)]
                  + ["filtered_mean", "filtered_mode"] + [f"smoothed_{i}" for i in range(5)]
                  + ["smoothed_mean", "estimated_control"])


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jiriaf_fw.cli", "twin", *args], capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "MPLBACKEND": "Agg"})


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("simulate")
    completed = _run("simulate", "--out", str(out), "--json")
    assert completed.returncode == 0, completed.stderr
    return out, json.loads(completed.stdout)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("name", ["figure8_observed_lq.png", "figure9_control_history.png", "state_tracking.png"])
def test_simulate_writes_png(simulated: tuple[Path, dict[str, Any]], name: str) -> None:
    path = simulated[0] / name
    assert path.stat().st_size > 10_000
    width, height = _png_size(path)
    assert width >= 600
    assert height >= 300
    pixels = image.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0.05


def test_simulate_summary_json(simulated: tuple[Path, dict[str, Any]]) -> None:
    out, summary = simulated
    assert summary["model"] == "jlab-paper"
    assert summary["steps"] == 80
    assert summary["switch_steps"] == [6, 37, 46, 77]
    assert [lag["lag_steps"] for lag in summary["lags"]] == [1, 10, 1, 10]
    assert summary["prediction"]["controls"] == ["16c"] * 11
    assert Path(summary["files"]["series_csv"]) == out / "series.csv"


def test_simulate_series_csv(simulated: tuple[Path, dict[str, Any]]) -> None:
    with (simulated[0] / "series.csv").open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
    assert reader.fieldnames == SERIES_COLUMNS
    assert len(rows) == 80
    assert [int(row["step"]) for row in rows] == list(range(80))
    assert float(rows[6]["predicted_p_32c"]) == pytest.approx(0.9958791208791, abs=1e-6)
    assert rows[6]["control_label"] == "32c"
    assert float(rows[30]["smoothed_mean"]) >= 0


def test_simulate_series_json(simulated: tuple[Path, dict[str, Any]]) -> None:
    data = json.loads((simulated[0] / "series.json").read_text(encoding="utf-8"))
    assert len(data["series"]) == 80
    assert list(data["series"][0]) == SERIES_COLUMNS
    assert data["switch_steps"] == [6, 37, 46, 77]
    assert [row["observation"] for row in data["series"][:3]] == pytest.approx([32.0, 35.6, 39.2])


def test_simulate_improved_table(tmp_path: Path) -> None:
    completed = _run("simulate", "--improved", "--out", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    assert "6, 31, 46, 71" in completed.stdout
    assert "4 steps" in completed.stdout


def test_fit_history_from_simulator(tmp_path: Path) -> None:
    """A random-walk history from `simulate` fits back to the measured table the simulated queue uses."""
    history = tmp_path / "history"
    completed = _run("simulate", "--scenario", "random-walk", "--steps", "2000", "--noise", "0.05",
                     "--explore", "0.5", "--seed", "3", "--improved", "--out", str(history))
    assert completed.returncode == 0, completed.stderr
    model_file = tmp_path / "fitted.json"
    completed = _run("fit", str(history / "series.csv"), "--out", str(model_file), "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["method"] == "counts"
    model = json.loads(model_file.read_text(encoding="utf-8"))
    assert np.array(model["emission"]["mean"]) == pytest.approx(np.asarray(OBSERVED_LQ), rel=0.03)
    assert np.array(model["transition"]).sum(axis=2) == pytest.approx(np.ones((2, 5)), abs=1e-9)
    completed = _run("simulate", "--model", str(model_file), "--out", str(tmp_path / "with-fitted"), "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["model"] == "fitted"


runner = CliRunner()


def _error_line(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["twin", *args])
    return result.exit_code, result.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, suffix, message", [
    (None, ".json", "error: cannot read model file {path}: No such file or directory"),
    ("{not json", ".json", ("error: {path}: invalid JSON at line 1 column 2: Expecting property name enclosed in "
                            "double quotes")),
    ("a: [1, 2\n", ".yaml", "error: {path}: invalid YAML at line 2: expected ',' or ']', but got '<stream end>'"),
    ("- 1\n", ".yaml", "error: {path}: top level: expected a mapping, got list"),
    ("SIGMA", ".json", "error: {path}: emission.sigma: values must be finite and > 0"),
])
def test_bad_model_file_one_line(tmp_path: Path, content: str | None, suffix: str, message: str) -> None:
    path = tmp_path / f"model{suffix}"
    if content == "SIGMA":
        data = model_to_dict(default_model())
        data["emission"]["sigma"] = -1
        content = json.dumps(data)
    if content is not None:
        _write(path, content)
    code, stderr = _error_line("simulate", "--model", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert stderr == message.format(path=path) + "\n"
    assert not (tmp_path / "out").exists()


def test_model_and_improved_conflict(tmp_path: Path) -> None:
    code, stderr = _error_line("simulate", "--model", str(tmp_path / "m.json"), "--improved")
    assert code == 2
    assert stderr == "error: --model and --improved both select a model, so pass only one of them\n"


HEADER = "step,control,observation,state\n"


@pytest.mark.parametrize("content, message", [
    (None, "error: cannot read history file {path}: No such file or directory"),
    ("step,observation\n0,32\n", "error: {path}: missing column 'control' (found: step, observation)"),
    (HEADER + "0,16c,32,0\n1,16c,abc,0\n", "error: {path}: row 3: observation 'abc' is not a number"),
    (HEADER + "0,8c,32,0\n", "error: {path}: row 2: control '8c' is not a number or one of 32c, 16c"),
    (HEADER + "0,1,32,0\n1,1,32,\n", ("error: {path}: row 3: state is empty, but other rows have one. Fill it on "
                                      "every row or on none.")),
    (HEADER + "0,1,32,0\n1,1,32,0.5\n", "error: {path}: row 3: state 0.5 is not a whole number"),
    (HEADER + "0,1,32,0\n", "error: {path}: 1 row(s), but a fit needs at least 2 consecutive steps"),
    (HEADER + "0,1,32,0\n1,1,32,7\n", "error: {path}: step 1: state 7 is not a state index 0..4"),
])
def test_bad_history_file_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "history.csv"
    if content is not None:
        _write(path, content)
    code, stderr = _error_line("fit", str(path), "--out", str(tmp_path / "model.json"))
    assert code == 2
    assert stderr == message.format(path=path) + "\n"
    assert not (tmp_path / "model.json").exists()


def test_fit_accepts_control_labels(tmp_path: Path) -> None:
    path = _write(tmp_path / "history.csv", HEADER + "0,16c,32,0\n1,16c,41,1\n2,32c,2.5,1\n")
    result = runner.invoke(app, ["twin", "fit", str(path), "--out", str(tmp_path / "model.yaml")])
    assert result.exit_code == 0, result.stderr
    assert "model.yaml" in result.stdout
    assert (tmp_path / "model.yaml").read_text(encoding="utf-8").startswith("format: jiriaf-twin-model/1\n")
