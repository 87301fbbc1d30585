"""Make real MLflow runs with seven peer tools and record what each one logged.

    python scripts/peer_runs.py                    # every tool, a throw-away sqlite store
    python scripts/peer_runs.py --tools keras,sklearn --tracking-uri sqlite:///peers.db

Each tool runs in three set-ups whose right verdict is clear (under-fit, over-fit, good fit;
see tests/diagnosis/peers/setups.py). The train and dev errors are measured apart from what
the tool logged, by predicting with the trained model. The records go to
tests/diagnosis/peer_runs/<tool>.json, which tests/diagnosis/test_peer_runs.py replays; a
tool with a run that misses its set-up's intent is not written, and the script ends with
status 1 listing the misses.
Needs the tools installed: pip install -e ".[peers]".
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the runners live with the tests that replay their records

import mlflow  # noqa: E402
import torch  # noqa: E402

from tests.diagnosis.peers import TOOLS  # noqa: E402
from tests.diagnosis.peers.record import logged, versions  # noqa: E402
from tests.diagnosis.peers.setups import PeerRun, Setup, Split, Variant, misses  # noqa: E402

OUTPUT = ROOT / "tests" / "diagnosis" / "peer_runs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="MLflow store (default: sqlite in a temp dir)")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated, from: {', '.join(TOOLS)}")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny models: a second thread only waits on the first
    tools = args.tools.split(",")
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"--tools: unknown {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    output = args.output.resolve()
    missed = []
    with tempfile.TemporaryDirectory() as directory:
        uri = args.tracking_uri or f"sqlite:///{Path(directory) / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = uri  # read by tools that open their own client
        mlflow.set_tracking_uri(uri)
        os.chdir(directory)  # tools that write beside the script (lightning_logs/) write here
        for tool in tools:
            record, problems = record_tool(tool)
            missed += problems
            if not problems:
                write(record, output / f"{tool}.json")
    if missed:
        sys.exit("runs that missed their set-up (their tool's file not written):\n  "
                 + "\n  ".join(missed))


def write(record: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(record) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)", flush=True)


def dumps(record: dict[str, Any]) -> str:
    """Indented JSON, except that each metric's history stays on one line (a third the size)."""
    histories: list[str] = []

    def placeholder(entries: list) -> str:
        histories.append(json.dumps(entries, separators=(",", ":")))
        return f"@history{len(histories) - 1}@"

    runs = [{**run, "history": {key: placeholder(entries)
                                for key, entries in run["history"].items()}}
            for run in record["runs"]]
    text = json.dumps({**record, "runs": runs}, indent=1)
    return re.sub(r'"@history(\d+)@"', lambda match: histories[int(match.group(1))], text)


def record_tool(tool: str) -> tuple[dict[str, Any], list[str]]:
    """Every variant of ``tool`` in each of its set-ups, with the tool's versions on top;
    and the runs that missed their set-up's intent."""
    module = importlib.import_module(TOOLS[tool])
    runs, missed = [], []
    for variant in (v for v in module.VARIANTS if v.tool == tool):
        for setup in variant.setups.values():
            run, misses_ = record_run(variant, setup)
            runs.append(run)
            missed += [f"{tool}/{variant.name}/{miss}" for miss in misses_]
    record = {"tool": tool, "versions": versions(module.PACKAGES),
              "generated_by": "scripts/peer_runs.py", "runs": runs}
    return record, missed


def record_run(variant: Variant, setup: Setup) -> tuple[dict[str, Any], list[str]]:
    started = time.perf_counter()
    split, run = variant.run(setup)
    seconds = time.perf_counter() - started
    found = misses(setup, split.baseline_error, run.train_error, run.dev_error)
    print(f"{variant.tool:18} {variant.name:28} {setup.name:9} train {run.train_error:.4f} "
          f"dev {run.dev_error:.4f} baseline {split.baseline_error:.3f} {seconds:5.1f}s"
          + ("  MISSED: " + "; ".join(found) if found else ""), flush=True)
    record = {**describe(variant, setup, split, run), "seconds": round(seconds, 1),
              **logged(mlflow.MlflowClient(), run.run_id)}
    return record, found


def describe(variant: Variant, setup: Setup, split: Split, run: PeerRun) -> dict[str, Any]:
    """What was run and what it truly achieved, apart from what the tool logged."""
    return {
        "tool": variant.tool, "variant": variant.name, "setup": setup.name,
        "expected_verdict": setup.expected, "task": split.task,
        "baseline_error": split.baseline_error, "bayes_rule_error": split.bayes_rule_error,
        "n_train": setup.n_train, "n_dev": setup.n_dev,
        "model": {"hidden": list(setup.hidden), "epochs": setup.epochs,
                  "batch_size": setup.batch_size, "lr": setup.lr,
                  "steps_per_epoch": setup.steps_per_epoch},
        "settings": run.settings,
        "measured": {"train_error": run.train_error, "dev_error": run.dev_error},
    }


if __name__ == "__main__":
    main()
