"""Where runs live: the tracking store, its experiments, and URIs fit to print.

Nothing here writes a run; the tracker and the commands call it before they start one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import mlflow
from mlflow.exceptions import MlflowException

_SQLITE_PREFIX = "sqlite:///"
#: The experiment tag the MLflow 3 UI reads to open an experiment in model-training mode
#: rather than the GenAI overview (MLflow's ``MLFLOW_EXPERIMENT_KIND`` tag).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: Seconds a command waits for a tracking server that does not answer, before giving up.
SERVER_WAIT_ENV = "IMPROVENN_SERVER_WAIT"
DEFAULT_SERVER_WAIT = 30.0
_FIRST_RETRY_DELAY = 1.0
_SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "token", "access_token", "secret")
_HIDDEN = "***"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a local sqlite tracking URI; None for any other store."""
    if not uri.startswith(_SQLITE_PREFIX):
        return None
    return Path(uri.removeprefix(_SQLITE_PREFIX).split("?", 1)[0])


class StoreError(ValueError):
    """A tracking URI that no store can be opened at (an unknown scheme, a missing folder)."""


class ServerDown(RuntimeError):
    """The tracking server did not answer within the wait allowed."""


def check_tracking_uri(uri: str) -> None:
    """Refuse, before anything is created or contacted, a tracking URI MLflow cannot use:
    a scheme no tracking store is registered for (``bogus://x``), or a sqlite database in
    a folder that does not exist (MLflow would fail deep inside with FileNotFoundError).
    Raises :class:`StoreError`; its message holds no password."""
    database = sqlite_file(uri)
    if database is not None:
        if not database.parent.is_dir():
            raise StoreError(f"the folder {database.parent} of the sqlite store "
                             f"{redact_uri(uri)} does not exist: create it, or use another")
        return
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        _tracking_store_registry.get_store_builder(uri)
    except ImportError:  # another MLflow layout: let MLflow itself refuse
        return
    except MlflowException as error:
        schemes = ", ".join(sorted(s for s in getattr(error, "supported_uri_schemes", []) if s))
        raise StoreError(f"{redact_uri(uri)} is not a tracking URI MLflow can use "
                         f"(schemes: {schemes or 'sqlite, postgresql, http, https, file'})"
                         ) from None


@dataclass(frozen=True)
class Retry:
    """One more try to reach a server: the ``attempt``-th of ``of``, after ``delay`` seconds."""

    attempt: int
    of: int
    delay: float
    reason: str


def retry_delays(wait: float) -> list[float]:
    """Seconds to sleep before each retry: doubling from 1 s, the last one cut so that the
    sleeps add up to ``wait`` at most.

    >>> retry_delays(30)
    [1.0, 2.0, 4.0, 8.0, 15.0]
    >>> retry_delays(0)
    []
    """
    delays: list[float] = []
    delay = _FIRST_RETRY_DELAY
    while sum(delays) < wait:
        delays.append(min(delay, wait - sum(delays)))
        delay *= 2
    return delays


def server_wait() -> float:
    """The wait allowed for a tracking server, in seconds: ``$IMPROVENN_SERVER_WAIT`` or 30.
    Raises :class:`StoreError` for a value that is not a number >= 0."""
    text = os.environ.get(SERVER_WAIT_ENV, "")
    try:
        wait = float(text) if text.strip() else DEFAULT_SERVER_WAIT
    except ValueError:
        wait = -1.0
    if not 0 <= wait < float("inf"):
        raise StoreError(f"{text!r} is not a number of seconds >= 0")
    return wait


def wait_for_server(uri: str, wait: float, on_retry: Callable[[Retry], None] | None = None
                    ) -> None:
    """Return once the tracking server at ``uri`` answers (any HTTP answer, even an error);
    other URIs return at once. Without this a server that is down looks like a hang:
    MLflow retries each request for minutes before it says anything.

    ``on_retry`` hears of each retry before its sleep, the first one as soon as the first
    try failed. Raises :class:`ServerDown` when the sleeps of :func:`retry_delays` (``wait``
    seconds in all, plus up to 5 s a try) pass without an answer.
    """
    if not uri.startswith(("http://", "https://")):
        return
    delays = retry_delays(wait)
    for attempt in range(len(delays) + 1):
        reason = _no_answer(uri)
        if reason is None:
            return
        if attempt == len(delays):
            tries = "1 try" if attempt == 0 else f"{attempt + 1} tries"
            raise ServerDown(f"the MLflow tracking server {redact_uri(uri)} did not answer in "
                             f"{wait:g} s ({tries}): {reason}")
        if on_retry is not None:
            on_retry(Retry(attempt + 1, len(delays), delays[attempt], reason))
        time.sleep(delays[attempt])


def _no_answer(uri: str) -> str | None:
    """Why the server at ``uri`` did not answer a health check, or None when it did."""
    import requests

    try:
        requests.get(uri.rstrip("/") + "/health", timeout=5)
    except requests.exceptions.SSLError:
        return None  # it answered; whether its certificate is trusted is MLflow's question
    except requests.ConnectionError as error:
        refused = "refused" in str(error).lower()
        return "connection refused" if refused else "cannot connect"
    except requests.Timeout:
        return "no answer within 5 s"
    return None


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
    if mlflow.get_experiment_by_name(experiment) is None:
        try:  # tagged so that the MLflow 3 UI opens it for model training
            mlflow.create_experiment(experiment, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except MlflowException:
            if mlflow.get_experiment_by_name(experiment) is None:
                raise  # not another process that created it first
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
