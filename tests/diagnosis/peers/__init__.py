"""Real runs of other tools' MLflow logging, in set-ups whose right verdict is clear.

``setups`` holds the data (two moons, a token task) and the three set-ups (under-fit,
over-fit, good fit); one module per tool makes a real run of that tool and measures its train
and dev error by predicting with the trained model; ``record`` reads a run back from MLflow.
``scripts/peer_runs.py`` writes the records under ``tests/diagnosis/peer_runs/``.
"""

from __future__ import annotations

#: Tool name (the recorded file's stem) -> the module that makes its runs.
TOOLS = {
    "lightning_logger": "tests.diagnosis.peers.lightning_runs",
    "lightning_autolog": "tests.diagnosis.peers.lightning_runs",
    "skorch": "tests.diagnosis.peers.skorch_runs",
    "keras": "tests.diagnosis.peers.keras_runs",
    "transformers": "tests.diagnosis.peers.transformers_runs",
    "sklearn": "tests.diagnosis.peers.sklearn_runs",
    "pytorch": "tests.diagnosis.peers.pytorch_runs",
}
