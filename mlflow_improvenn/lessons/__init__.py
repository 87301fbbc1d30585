"""Lessons: the course's lessons as compared MLflow runs, one project each under projects/.

The lessons are data (``catalog``: a question, a base set-up, variations, and the story its
verdicts must tell, a ``stories.Story``); the runner trains each variation as a child of one
parent (``runner``: :func:`run_lesson`); ``report`` turns the results into the README's
Markdown tables and reads them back. Uses runs and everything below.
"""

from mlflow_improvenn._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "LESSONS": "catalog",
    "Story": "stories",
    "run_lesson": "runner",
    "lessons_markdown": "report",
})
