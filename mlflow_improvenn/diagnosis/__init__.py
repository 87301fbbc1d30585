"""Diagnosis: bias versus variance for any run, and the basic recipe's next step.

The verdicts are pure functions (``verdicts``); around them: confidence intervals from the
split sizes (``intervals``) and the two gaps measured with them (``gaps``), which logged
metrics stand for a run's train and dev error (``metric_names``), reading learning curves
(``curves``) and the histories that need it (``history_reads``), the one-row-per-run report
over MLflow runs (``report``: :func:`diagnose`), the data-size learning curve's verdict
(``learning_curve``, pure; ``curve_runs`` reads and logs it on a parent), the bias-variance
map figure, and the
``improvenn`` MLflow evaluator plugin. Imports training and tracking only.
"""

from mlflow_improvenn._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "diagnose": "report",
    "diagnose_errors": "gaps",
    "Scale": "verdicts",
    "Diagnosis": "verdicts",
    "Verdict": "verdicts",
    "DEFAULT_TOLERANCE": "verdicts",
    "CurveFindings": "verdicts",
    "read_curves": "curves",
    "read_data_curve": "learning_curve",
    "choose_metrics": "metric_names",
    "draw_map": "bias_variance_map",
    "ImproveNNEvaluator": "evaluator",
})
