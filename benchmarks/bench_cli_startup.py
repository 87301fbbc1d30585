"""Start-up time of ``improvenn --help`` and ``improvenn diagnose --help``, and what they import.

Each command runs as its own process, the way a user starts it; the median wall time of
several runs is reported with the target (under 0.5 s). A second process runs the same
command in-process and lists which heavy modules (torch, mlflow, ...) ended up imported:
help should import neither torch nor MLflow, and ``diagnose`` never torch.

Usage: ``python benchmarks/bench_cli_startup.py [--runs 7] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.5
COMMANDS = (("--help",), ("diagnose", "--help"))
HEAVY = ("torch", "mlflow", "pandas", "numpy", "matplotlib", "sklearn", "sqlalchemy")

# Runs the CLI in-process with the given arguments, then prints the heavy modules it loaded.
_PROBE = f"""
import json, sys
from mlflow_improvenn.cli import main
try:
    main(sys.argv[1:], prog_name="improvenn")
except SystemExit:
    pass
print("\\n" + json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""


def command_line(args: tuple[str, ...]) -> list[str]:
    """The installed ``improvenn`` script, else ``python -m mlflow_improvenn``."""
    script = shutil.which("improvenn")
    return [script, *args] if script else [sys.executable, "-m", "mlflow_improvenn", *args]


def exists(args: tuple[str, ...]) -> bool:
    """False when the CLI does not know the subcommand (click exits with status 2)."""
    result = subprocess.run(command_line(args), capture_output=True, text=True)
    return result.returncode == 0


def wall_times(args: tuple[str, ...], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command_line(args), capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def heavy_imports(args: tuple[str, ...]) -> list[str]:
    result = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = {}
    for command in COMMANDS:
        name = "improvenn " + " ".join(command)
        if not exists(command):
            print(f"{name:<28} not measured: the command does not exist (yet)")
            continue
        times = wall_times(command, args.runs)
        median = statistics.median(times)
        imported = heavy_imports(command)
        results[name] = {"seconds": times, "median_s": median, "heavy_imports": imported}
        verdict = "ok" if median < TARGET_S else f"over the {TARGET_S} s target"
        print(f"{name:<28} median {median:.3f} s over {args.runs} runs ({verdict}); "
              f"imports: {', '.join(imported) or 'none of ' + '/'.join(HEAVY)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
