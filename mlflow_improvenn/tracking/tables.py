"""Tables fit for a spreadsheet and a terminal, whatever the runs were named.

Run names, experiment names and reasons come from users and from other tools. A CSV cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets (OWASP, "CSV Injection"): such text cells get a leading ``'``,
which those programs show as text. A terminal runs the escape sequences a name may hold
(clearing the screen, setting the title, faking a hyperlink): control characters are shown
as ``\\xNN`` instead.
"""

from __future__ import annotations

import re

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula quoted.

    >>> csv_safe(pd.DataFrame({"run": ["=cmd|' /C calc'!A0", "fine"], "x": [-1.0, 2.0]}))
                       run    x
    0  '=cmd|' /C calc'!A0 -1.0
    1                 fine  2.0
    """
    return frame.apply(lambda column: column.map(_quoted) if _text(column) else column)


def write_csv(frame: pd.DataFrame, path) -> None:
    """Write ``frame`` as CSV, its text cells quoted as :func:`csv_safe` says."""
    csv_safe(frame).to_csv(path, index=False)


def printable(text: str) -> str:
    """``text`` with its control characters (escape sequences, bells) shown, not run.

    >>> printable("run\\x1b]0;owned\\x07")
    'run\\\\x1b]0;owned\\\\x07'
    """
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _text(column: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)


def _quoted(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
