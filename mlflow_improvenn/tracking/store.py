"""Where runs live: the tracking store, its experiments, and URIs fit to print.

Nothing here writes a run; the tracker and the commands call it before they start one.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import mlflow

_SQLITE_PREFIX = "sqlite:///"
_SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "token", "access_token", "secret")
_HIDDEN = "***"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a local sqlite tracking URI; None for any other store."""
    if not uri.startswith(_SQLITE_PREFIX):
        return None
    return Path(uri.removeprefix(_SQLITE_PREFIX).split("?", 1)[0])


def prepare_store() -> None:
    """Create (or open) a local sqlite tracking store while holding a lock on its folder.

    MLflow creates and migrates a store's tables on first use; two processes doing that at
    once, such as two sweeps started together in a fresh folder, leave it half-migrated
    (seen with MLflow 3.17). Under the lock the second one finds the tables made. Other
    stores, and systems without ``fcntl``, are left to MLflow.
    """
    database = sqlite_file(mlflow.get_tracking_uri())
    if database is None:
        return
    try:
        import fcntl
    except ImportError:
        return
    descriptor = os.open(database.parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        mlflow.search_experiments(max_results=1)
    finally:
        os.close(descriptor)  # releases the lock


def resolve_experiment(experiment: str | None) -> str | None:
    """The id of the experiment named ``experiment`` (created if missing); None to leave the
    choice to MLflow (the active or default experiment, or the one ``mlflow run`` chose).

    Callers pass the id to ``start_run`` explicitly: when two processes create the same
    experiment at once, the loser's ``set_experiment`` returns it but leaves MLflow's active
    experiment unset, and its run would land in Default (seen with MLflow 3.17).
    """
    if not experiment or "MLFLOW_RUN_ID" in os.environ:
        return None
    return mlflow.set_experiment(experiment).experiment_id


def redact_uri(uri: str) -> str:
    """``uri`` with its password (``user:password@``, or a ``password=`` query parameter) as
    ``***``, fit to print or log. Parsed with SQLAlchemy's URL parser, which takes a password
    holding ``/``, ``#`` or ``?`` whole; text that is not a URL is returned as it is."""
    url = _parsed(uri)
    if url is None or not uri_secrets(uri):
        return uri
    hidden = {key: _HIDDEN for key in url.query if key.lower() in _SECRET_QUERY_KEYS}
    rendered = url.update_query_dict(hidden).render_as_string(hide_password=True)
    return rendered.replace(quote(_HIDDEN), _HIDDEN)


def uri_secrets(uri: str) -> list[str]:
    """The secrets written in ``uri``: its password and secret query parameters."""
    url = _parsed(uri)
    if url is None:
        return []
    secrets = [url.password] if url.password else []
    for key, value in url.query.items():
        if key.lower() in _SECRET_QUERY_KEYS:
            secrets += [value] if isinstance(value, str) else list(value)
    return [secret for secret in secrets if secret]


def _parsed(uri: str):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(uri)
    except (ArgumentError, ValueError):
        return None
