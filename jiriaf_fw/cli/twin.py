"""The `jiriaf-fw twin` commands: simulate the JLab queue scenario, fit a model from history, run live."""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from jiriaf_fw.services import twin_live, twin_report
from jiriaf_fw.twin import TwinModel, TwinModelError, default_model, improved_model
from jiriaf_fw.twin.fitting import FitResult, fit_model
from jiriaf_fw.twin.scenario import SCENARIOS
from jiriaf_fw.twin.simulation import SimulationResult, run_scenario

twin_app = typer.Typer(
    name="twin",
    help="Digital twin of a stream queue: recommends thread or replica counts from the queue length.",
    no_args_is_help=True,
)

_stdout = Console(width=None if sys.stdout.isatty() else 200)

ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="Model file (JSON or YAML, as written by `twin fit`). Default: the JLab model.",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]


def _reported(command: Callable[..., None]) -> Callable[..., None]:
    """Route a command's JiriafError through the CLI's one-line error handler."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        # Imported here because jiriaf_fw.cli.app imports this module while it is being loaded.
        from jiriaf_fw.cli.app import _reporting_errors

        _reporting_errors(command)(*args, **kwargs)

    return wrapper


def _select_model(model_file: Path | None, improved: bool) -> TwinModel:
    if model_file is not None and improved:
        raise TwinModelError("--model and --improved both select a model, so pass only one of them")
    if model_file is not None:
        return twin_report.read_model_file(model_file)
    return improved_model() if improved else default_model()


def _simulation_table(result: SimulationResult, paths: dict[str, Path]) -> Table:
    model = result.model
    table = Table(title=f"Twin simulation: model {model.name}, {len(result.records)} steps", show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    table.add_row("switch steps", ", ".join(map(str, result.switch_steps)) or "none")
    for lag in result.lags:
        label = model.control_labels[lag.ideal_control]
        table.add_row(f"lag to {label} (truth changed at step {lag.step})",
                      "not reached" if lag.lag is None else f"{lag.lag} step{'' if lag.lag == 1 else 's'}")
    for kind, path in paths.items():
        table.add_row(kind, str(path))
    return table


def simulate(
    steps: Annotated[int, typer.Option("--steps", min=1, help="Number of time steps to simulate.")] = 80,
    model_file: ModelOption = None,
    improved: Annotated[bool, typer.Option("--improved", help="Use the improved model: measured-Lq emissions on "
                                           "log Lq and a minimum dwell time.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Directory for the figures, series.csv and series.json.")]
    = Path("twin-simulation"),
    scenario: Annotated[str, typer.Option("--scenario", help=f"Load of the simulated queue: {', '.join(SCENARIOS)} "
                                          "(the JLab schedule of ramps of 0.4 state per step, or a random walk "
                                          "over the states).")] = "paper",
    noise: Annotated[float, typer.Option("--noise", min=0.0, help="Measurement noise of the simulated queue: "
                                         "standard deviation of log Lq.")] = 0.0,
    explore: Annotated[float, typer.Option("--explore", min=0.0, max=1.0, help="Probability of enacting a random "
                                           "control instead of the recommendation (for histories).")] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the random draws.", show_default=False)] = None,
    json_output: JsonOption = False,
) -> None:
    """Run the twin in closed loop against the simulated queue and write the figures and the per-step series."""
    model = _select_model(model_file, improved)
    result = run_scenario(model, scenario, steps, seed=seed, noise=noise, explore=explore)
    paths = twin_report.write_report(result, out)
    if json_output:
        data = {**twin_report.summary(result), "files": {kind: str(path) for kind, path in paths.items()}}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    _stdout.print(_simulation_table(result, paths))


def _fit_table(fit: FitResult, history: Path, out: Path) -> Table:
    model = fit.model
    table = Table(title=f"Fitted model {model.name} from {history} ({fit.method})")
    table.add_column("control")
    for label in model.state_labels:
        table.add_column(f"state {label}: Lq (n)", justify="right")
    for u, control in enumerate(model.control_labels):
        cells = [f"{model.emission.mean[u, i]:.4g} ({fit.emission_counts[u, i]:.0f})" for i in range(model.n_states)]
        table.add_row(control, *cells)
    table.caption = f"written to {out}" + (f"; {fit.iterations} Baum-Welch iterations" if fit.iterations else "")
    return table


def fit(
    history: Annotated[Path, typer.Argument(help="History CSV: columns step, control, observation, optional state.")],
    out: Annotated[Path, typer.Option("--out", help="Model file to write (.json for JSON, else YAML).")],
    base: Annotated[Path | None, typer.Option("--base", help="Model that supplies labels, rates, prior, policy and "
                                               "the fit's prior. Default: the improved model.",
                                               show_default=False)] = None,
    space: Annotated[str, typer.Option("--space", help="Emission space: log (noise on log Lq) or linear.")] = "log",
    prior_count: Annotated[float, typer.Option("--prior-count", min=0.0, help="Dirichlet pseudo-count per "
                                               "transition row, spread as the base model's row.")] = 1.0,
    name: Annotated[str, typer.Option("--name", help="Name stored in the model file.")] = "fitted",
    json_output: JsonOption = False,
) -> None:
    """Learn transition tables and emissions from a logged history and write a model file."""
    base_model = twin_report.read_model_file(base) if base is not None else improved_model()
    data = twin_report.read_history_csv(history, base_model.control_labels)
    result = fit_model(data, base_model, space=space, prior_count=prior_count, name=name)
    twin_report.write_model_file(result.model, out)
    if json_output:
        sys.stdout.write(json.dumps({"model_file": str(out), "method": result.method, "rows": int(data.steps.size),
                                     "iterations": result.iterations,
                                     "emission_counts": result.emission_counts.tolist()}, indent=2) + "\n")
        return
    _stdout.print(_fit_table(result, history, out))


twin_app.command("simulate")(_reported(simulate))
twin_app.command("fit")(_reported(fit))

# The live command: `twin run`.


def _step_json(record: twin_live.StepRecord, model: TwinModel) -> str:
    return json.dumps({
        "step": record.step, "evaluated_at": record.evaluated_at, "queue_length": record.queue_length,
        "send_rate_hz": record.send_rate_hz, "process_rate_hz": record.process_rate_hz,
        "enacted_threads": model.threads[record.enacted], "recommended_threads": record.recommended_threads,
        "belief": dict(zip(model.state_labels, (round(float(p), 6) for p in record.belief), strict=True)),
    })


def _step_line(record: twin_live.StepRecord, model: TwinModel) -> str:
    belief = " ".join(f"{label}:{float(p):.3f}" for label, p in zip(model.state_labels, record.belief, strict=True))
    return (f"step {record.step}: queue length {record.queue_length:g}, enacted {model.threads[record.enacted]} "
            f"threads, recommended {record.recommended_threads} threads, belief {belief}")


def run(
    prometheus: Annotated[str, typer.Option("--prometheus", help="Base URL of the Prometheus server, e.g. "
                                            "http://127.0.0.1:9090.", show_default=False)],
    query: Annotated[str, typer.Option("--query", help="PromQL returning one series: the queue length the twin "
                                       "assimilates each step.", show_default=False)],
    send_rate_query: Annotated[str | None, typer.Option(
        "--send-rate-query", help="PromQL of the sending rate in events/s; published, not assimilated.")] = None,
    process_rate_query: Annotated[str | None, typer.Option(
        "--process-rate-query", help="PromQL of the processing rate in events/s; published, not assimilated.")
    ] = None,
    enacted_query: Annotated[str | None, typer.Option(
        "--enacted-query", help="PromQL of the thread count that runs now. Without it the twin assumes that its "
        "previous recommendation was enacted.")] = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between two steps.")] = (
        twin_live.DEFAULT_INTERVAL_S),
    steps: Annotated[int | None, typer.Option("--steps", help="Stop after this many assimilated steps "
                                              "(default: run until SIGINT or SIGTERM).", show_default=False)] = None,
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to serve the twin's /metrics on.")] = (
        "{}:{}".format(*twin_live.DEFAULT_LISTEN)),
    model_file: ModelOption = None,
    improved: Annotated[bool, typer.Option("--improved", help="Use the improved model: measured-Lq emissions on "
                                           "log Lq and a minimum dwell time.")] = False,
    max_failures: Annotated[int, typer.Option("--max-failures", help="Exit with an error after this many failed "
                                              "steps in a row.")] = twin_live.DEFAULT_MAX_CONSECUTIVE_FAILURES,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per step instead of a line.")]
    = False,
) -> None:
    """Run the twin on live Prometheus data and serve jiriaf_twin_recommended_threads for an HPA to act on."""
    model = _select_model(model_file, improved)
    settings = twin_live.LiveTwinSettings(
        prometheus_url=prometheus, queue_query=query, send_rate_query=send_rate_query,
        process_rate_query=process_rate_query, enacted_query=enacted_query, interval_s=interval, steps=steps,
        listen=twin_live.parse_listen_address(listen), max_consecutive_failures=max_failures)
    render = _step_json if json_output else _step_line

    def print_step(record: twin_live.StepRecord) -> None:
        sys.stdout.write(render(record, model) + "\n")
        sys.stdout.flush()

    def print_serving(url: str) -> None:
        sys.stderr.write(f"serving the twin's metrics on {url}\n")
        sys.stderr.flush()

    stop = threading.Event()
    with twin_live.stop_on_signals(stop):
        summary = twin_live.run_live(settings, model, stop=stop, on_step=print_step, on_serving=print_serving)
    sys.stderr.write(f"stopped after {summary.steps} steps ({summary.failed_steps} skipped)\n")


twin_app.command("run")(_reported(run))
