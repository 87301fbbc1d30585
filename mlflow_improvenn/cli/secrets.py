"""No command prints a password: what the CLI shows is scrubbed of the secrets it was given.

The secrets are the passwords (and password or token query parameters) of every URL on the
command line and in ``MLFLOW_TRACKING_URI`` and ``IMPROVENN_STORAGE``, and the values of
``MLFLOW_TRACKING_PASSWORD`` and ``MLFLOW_TRACKING_TOKEN``. MLflow's own "View run ... at"
lines print the tracking URI whole, so they are switched off where it holds a password.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from urllib.parse import quote

_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "IMPROVENN_STORAGE")
_SECRET_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
_SUPPRESS_URLS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"


def known_secrets(argv: Sequence[str] | None = None) -> list[str]:
    """Every secret this process was given, longest first."""
    from mlflow_improvenn.tracking.store import uri_secrets

    secrets = [os.environ[name] for name in _SECRET_VARIABLES if os.environ.get(name)]
    texts = [*(sys.argv[1:] if argv is None else argv),
             *(os.environ.get(name, "") for name in _URI_VARIABLES)]
    for text in texts:
        if "://" in text:
            secrets += uri_secrets(text[text.index("=") + 1:] if text.startswith("--")
                                   and "=" in text else text)
    return sorted(set(secrets), key=len, reverse=True)


def scrub(text: str) -> str:
    """``text`` with every known secret, raw or URL-quoted, replaced by ``***``."""
    for secret in known_secrets():
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


def keep_urls_out_of_output(tracking_uri: str) -> None:
    """Stop MLflow printing run links when the tracking URI holds a password."""
    from mlflow_improvenn.tracking.store import uri_secrets

    if uri_secrets(tracking_uri):
        os.environ[_SUPPRESS_URLS] = "true"
