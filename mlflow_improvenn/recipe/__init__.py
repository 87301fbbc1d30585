"""Recipe: the basic recipe for ML as an automatic loop.

The decisions are pure functions (``decisions``: a verdict and a config in, the next change
out, :func:`next_action`); the loop (``loop``: :func:`run_recipe`) trains, diagnoses and
applies them, every step a child run of one parent. Uses runs and everything below.
"""

from mlflow_improvenn._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "run_recipe": "loop",
    "RecipeSettings": "loop",
    "RecipeResult": "loop",
    "RecipePolicy": "decisions",
    "RunFacts": "decisions",
    "next_action": "decisions",
})
