"""Files of the digital twin: model files (JSON or YAML), history CSV files, and simulation reports.

A simulation report is the per-step series as CSV and JSON plus PNG figures drawn with matplotlib's Agg
renderer (no display, no pyplot state). They redraw Figures 8 and 9 of the JIRIAF paper (arXiv:2502.18596):
observed Lq on a log scale shaded by the enacted control, and predicted against estimated control. A third
figure plots the tracked state index against the truth.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib import ticker
from matplotlib.figure import Figure

from jiriaf_fw.twin.errors import TwinHistoryError, TwinModelError, TwinOutputError
from jiriaf_fw.twin.fitting import History
from jiriaf_fw.twin.model import TwinModel, load_model, model_to_dict
from jiriaf_fw.twin.simulation import SimulationResult, estimated_control

logger = logging.getLogger(__name__)

REPORT_FILES = {"observed_lq": "figure8_observed_lq.png", "control_history": "figure9_control_history.png",
                "state_tracking": "state_tracking.png", "series_csv": "series.csv", "series_json": "series.json"}
HISTORY_COLUMNS = ("step", "control", "observation")
# One colour per control index in the figures. Figure 8 of the JIRIAF paper shades by control in blue and red.
_CONTROL_COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple")
_DPI = 120
_FILE_MODE = 0o644


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file next to `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        # mkstemp creates the file private (0600), but reports and model files are meant to be shared.
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_model_file(path: Path) -> TwinModel:
    """Read and validate a model file: JSON for a `.json` suffix, YAML otherwise.

    Raises TwinModelError with one line for an unreadable file, invalid JSON or YAML, or an invalid model.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TwinModelError(f"cannot read model file {path}: {getattr(error, 'strerror', None) or error}") from error
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise TwinModelError(f"{path}: invalid JSON at {where}: {error.msg}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TwinModelError(f"{path}: invalid YAML{where}: {getattr(error, 'problem', None) or error}") from error
    return load_model(data, source=str(path))


def write_model_file(model: TwinModel, path: Path) -> None:
    """Write a model file atomically: JSON for a `.json` suffix, YAML otherwise.

    Raises TwinOutputError when the file cannot be written.
    """
    data = model_to_dict(model)
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=1) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    try:
        _write_atomically(path, text)
    except OSError as error:
        raise TwinOutputError(f"cannot write model file {path}: {error.strerror or error}") from error
    logger.info("wrote model %r to %s", model.name, path)


def _parse_cell(path: Path, row: int, column: str, text: str, labels: Sequence[str] = ()) -> float:
    if text in labels:
        return float(labels.index(text))
    try:
        return float(text)
    except ValueError as error:
        expected = f"a number or one of {', '.join(labels)}" if labels else "a number"
        raise TwinHistoryError(f"{path}: row {row}: {column} {text!r} is not {expected}") from error


def _whole(path: Path, row: int, column: str, value: float) -> int:
    if not value.is_integer():
        raise TwinHistoryError(f"{path}: row {row}: {column} {value!r} is not a whole number")
    return int(value)


def read_history_csv(path: Path, control_labels: Sequence[str]) -> History:
    """Read a history CSV with columns step, control, observation and optionally state (extra columns ignored).

    A control is an index or one of `control_labels`. The state column, when present, must be filled on
    every row or on none. Raises TwinHistoryError with one line naming the row and column of a bad value.
    """
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            reader = csv.DictReader(stream)
            header = reader.fieldnames or []
            missing = [column for column in HISTORY_COLUMNS if column not in header]
            if missing:
                found = ", ".join(header) or "nothing"
                raise TwinHistoryError(f"{path}: missing column {missing[0]!r} (found: {found})")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        reason = getattr(error, "strerror", None) or error
        raise TwinHistoryError(f"cannot read history file {path}: {reason}") from error
    steps, controls, observations, states = [], [], [], []
    for number, row in enumerate(rows, start=2):
        steps.append(_whole(path, number, "step", _parse_cell(path, number, "step", (row["step"] or "").strip())))
        control = _parse_cell(path, number, "control", (row["control"] or "").strip(), control_labels)
        controls.append(_whole(path, number, "control", control))
        observations.append(_parse_cell(path, number, "observation", (row["observation"] or "").strip()))
        state_text = (row.get("state") or "").strip()
        states.append(None if not state_text else _whole(path, number, "state",
                                                           _parse_cell(path, number, "state", state_text)))
    known = [state for state in states if state is not None]
    if known and len(known) != len(states):
        row = states.index(None) + 2
        raise TwinHistoryError(f"{path}: row {row}: state is empty, but other rows have one. Fill it on every row "
                               "or on none.")
    return History(steps=np.array(steps, dtype=int), controls=np.array(controls, dtype=int),
                   observations=np.array(observations, dtype=float),
                   states=np.array(known, dtype=int) if known else None, source=str(path))


def series_rows(result: SimulationResult) -> list[dict[str, Any]]:
    """Return one flat mapping per step: truth, controls, observation, beliefs (the CSV and JSON columns)."""
    model = result.model
    rows = []
    for record in result.records:
        row: dict[str, Any] = {
            "step": record.step, "true_state": record.true_state, "state": record.state,
            "recommended": record.recommended, "control": record.control,
            "control_label": model.control_labels[record.control], "threads": model.threads[record.control],
            "observation": record.observation}
        row.update({f"predicted_p_{label}": float(p) for label, p in zip(model.control_labels,
                                                                          record.predicted_control, strict=True)})
        row.update({f"filtered_{i}": float(p) for i, p in enumerate(record.filtered)})
        row["filtered_mean"] = float(np.arange(model.n_states) @ record.filtered)
        row["filtered_mode"] = int(np.argmax(record.filtered))
        smoothed = record.smoothed
        row.update({f"smoothed_{i}": None if smoothed is None else float(smoothed[i]) for i in range(model.n_states)})
        row["smoothed_mean"] = None if smoothed is None else float(np.arange(model.n_states) @ smoothed)
        row["estimated_control"] = estimated_control(record, model)
        rows.append(row)
    return rows


def summary(result: SimulationResult) -> dict[str, Any]:
    """Return the run's summary: model, steps, switch steps, control lags and the final prediction."""
    return {"model": result.model.name, "steps": len(result.records), "switch_steps": result.switch_steps,
            "lags": [{"step": lag.step, "ideal_control": result.model.control_labels[lag.ideal_control],
                      "lag_steps": lag.lag} for lag in result.lags],
            "prediction": {"controls": [result.model.control_labels[u] for u in result.predicted_controls],
                           "beliefs": result.prediction.tolist()}}


def write_series(result: SimulationResult, csv_path: Path, json_path: Path) -> None:
    """Write the per-step series as CSV (empty cells for missing values) and as JSON (null) with the summary."""
    rows = series_rows(result)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["step"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_atomically(csv_path, buffer.getvalue())
    _write_atomically(json_path, json.dumps({**summary(result), "series": rows}, indent=1) + "\n")


def _control_spans(controls: np.ndarray) -> list[tuple[int, int, int]]:
    """Return (first step, last step, control) for each run of equal consecutive controls."""
    spans: list[tuple[int, int, int]] = []
    for step, control in enumerate(controls):
        if spans and spans[-1][2] == control:
            spans[-1] = (spans[-1][0], step, control)
        else:
            spans.append((step, step, int(control)))
    return spans


def plot_observed_lq(result: SimulationResult, path: Path) -> None:
    """Draw Figure 8: observed Lq per step on a log axis, the background shaded by the enacted control."""
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    labelled: set[int] = set()
    for first, last, control in _control_spans(result.controls):
        label = None if control in labelled else f"{result.model.control_labels[control]} enacted"
        labelled.add(control)
        axes.axvspan(first - 0.5, last + 0.5, color=_CONTROL_COLOURS[control % len(_CONTROL_COLOURS)], alpha=0.2,
                     linewidth=0, label=label)
    steps = [record.step for record in result.records]
    observations = [max(record.observation, 1e-3) for record in result.records]
    axes.plot(steps, observations, "k.", label="observed Lq")
    axes.set_yscale("log")
    # Plain numbers (2, 3, 40) read better than 4 x 10^1 on a log axis spanning two decades.
    plain = ticker.FuncFormatter(lambda value, _position: f"{value:g}")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)
    axes.yaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 3.0, 5.0)))
    axes.set_xlim(-0.5, len(steps) - 0.5)
    axes.set(title="Observed queue length with control regions (log scale)", xlabel="Time step",
             ylabel="Observed Lq")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)


def plot_control_history(result: SimulationResult, path: Path) -> None:
    """Draw Figure 9: the predicted control (per-step recommendation, then the closed-loop prediction beyond
    the last step) against the estimated control (the policy on the smoothed belief)."""
    model = result.model
    steps = len(result.records)
    predicted = [record.recommended for record in result.records] + list(result.predicted_controls)
    estimated = [estimated_control(record, model) for record in result.records]
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    axes.plot(range(len(predicted)), predicted, "r--", linewidth=2, label="Predicted")
    known = [(step, control) for step, control in enumerate(estimated) if control is not None]
    axes.plot([step for step, _ in known], [control for _, control in known], "b-", linewidth=2, label="Estimated")
    axes.axvline(steps - 0.5, color="grey", linewidth=1, linestyle=":")
    axes.set_yticks(range(model.n_controls), list(model.control_labels))
    axes.set_ylim(-0.1, model.n_controls - 0.9)
    axes.set(title="Control history", xlabel="Time step", ylabel="Control")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)


def plot_state_tracking(result: SimulationResult, path: Path) -> None:
    """Draw the expected state index (filtered and smoothed) against the true state index."""
    indices = np.arange(result.model.n_states)
    steps = [record.step for record in result.records]
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    axes.plot(steps, [record.true_state for record in result.records], "k-", label="true state")
    axes.plot(steps, [indices @ record.filtered for record in result.records], "r--", label="filtered E[i]")
    smoothed = [(record.step, indices @ record.smoothed) for record in result.records if record.smoothed is not None]
    axes.plot([step for step, _ in smoothed], [mean for _, mean in smoothed], "b-", label="smoothed E[i]")
    axes.set(title=f"State tracking ({result.model.name})", xlabel="Time step", ylabel="State index")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)


def write_report(result: SimulationResult, out_dir: Path) -> dict[str, Path]:
    """Write the series and the figures into `out_dir` (created if missing) and return their paths by kind.

    Raises TwinOutputError when the directory or a file cannot be written.
    """
    paths = {kind: out_dir / name for kind, name in REPORT_FILES.items()}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_series(result, paths["series_csv"], paths["series_json"])
        plot_observed_lq(result, paths["observed_lq"])
        plot_control_history(result, paths["control_history"])
        plot_state_tracking(result, paths["state_tracking"])
    except OSError as error:
        raise TwinOutputError(f"cannot write the report to {out_dir}: {error.strerror or error}") from error
    logger.info("wrote the %d-step report of model %r to %s", len(result.records), result.model.name, out_dir)
    return paths
