"""Time one filter step and one 11-step closed-loop prediction of the digital twin.

Usage: python bench/twin_filter_step.py [--steps N] [--model default|improved]

Feeds the observations of the JLab load schedule (repeated) to `TwinFilter.step` under the recommended
control, and prints the mean and the 99th percentile of the time per step, per `predict(11)` and per
`recommend()`, in microseconds.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from jiriaf_fw.twin import TwinFilter, default_model, improved_model
from jiriaf_fw.twin.paper import OBSERVED_LQ
from jiriaf_fw.twin.scenario import QueueAsset, paper_true_states

HORIZON = 11


def _report(name: str, samples_ns: list[int]) -> None:
    micro = np.asarray(samples_ns) / 1000.0
    print(f"{name:<22} mean {micro.mean():8.1f} us   p99 {np.percentile(micro, 99):8.1f} us   n={micro.size}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="number of filter steps to time")
    parser.add_argument("--model", choices=("default", "improved"), default="default", help="twin model")
    arguments = parser.parse_args()
    model = default_model() if arguments.model == "default" else improved_model()
    truth = paper_true_states(80)
    asset = QueueAsset(np.asarray(OBSERVED_LQ))
    twin = TwinFilter(model)
    step_ns: list[int] = []
    predict_ns: list[int] = []
    recommend_ns: list[int] = []
    for t in range(arguments.steps):
        start = time.perf_counter_ns()
        control = twin.recommend()
        recommend_ns.append(time.perf_counter_ns() - start)
        observation = asset.measure(float(truth[t % truth.size]), control)
        start = time.perf_counter_ns()
        twin.step(observation, control)
        step_ns.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        twin.predict(HORIZON)
        predict_ns.append(time.perf_counter_ns() - start)
    print(f"model {model.name}, {model.n_states} states, {model.n_controls} controls; "
          f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    _report("filter step", step_ns)
    _report(f"predict({HORIZON})", predict_ns)
    _report("recommend", recommend_ns)


if __name__ == "__main__":
    main()
