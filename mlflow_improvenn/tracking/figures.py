"""Figures laid out from measured text, in one draw: no layout engine, nothing cut.

matplotlib's constrained and tight layouts draw a figure more than once to find its margins
and still cut a title longer than the figure. Here a figure gets its own Agg canvas from the
start, so the renderer that will draw it measures the texts first: titles are wrapped to the
width, legends get as many columns as fit, and margins follow from the sizes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.text import Text

DPI = 100
PAD = 10  # pixels between the figure's edge and a text, or between two blocks of text
LEGEND_FONT = "small"
COLUMN_SPACING = 1.5  # font sizes between legend columns
HANDLE_WIDTH = 2.0 + 0.8  # font sizes: matplotlib's handle length and the pad after it


def new_figure(size: tuple[float, float], layout: str | None = "constrained") -> Figure:
    """A figure of ``size`` inches at :data:`DPI` on its own Agg canvas, outside pyplot (no
    global backend switch, no state shared between threads), whose renderer measures text
    before the figure is drawn."""
    figure = Figure(figsize=size, dpi=DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def wrapped(text: str, artist: Text, renderer: RendererBase, width: float) -> str:
    """``text`` broken at spaces into the fewest lines at most ``width`` pixels wide in
    ``artist``'s font, of even lengths (no lone word on a last line); a word wider than a
    line, such as a long run name, is cut where it must be.

    >>> figure = new_figure((2, 1))
    >>> title = figure.text(0, 0, "")
    >>> print(wrapped("How much dropout does an over-fitting network need?", title,
    ...               figure.canvas.get_renderer(), 200))
    How much dropout does an
    over-fitting network need?
    """
    words = text.split()
    widest = max((text_width(word, artist, renderer) for word in words), default=0.0)
    if widest > width:
        chars = max(1, int(max(map(len, words)) * width / widest))
        words = [part for word in words for part in textwrap.wrap(word, chars)]
    joined = " ".join(words)
    for count in range(1, len(words) + 1):
        lines = _balanced(joined, count)
        if all(text_width(line, artist, renderer) <= width for line in lines):
            return "\n".join(lines)
    return "\n".join(words)


def _balanced(text: str, count: int) -> list[str]:
    """``text`` in at most ``count`` lines, the longest as short as the word breaks allow."""
    for chars in range(-(-len(text) // count), len(text)):
        lines = textwrap.wrap(text, chars, break_long_words=False, break_on_hyphens=False)
        if len(lines) <= count:
            return lines
    return [text]


def text_width(text: str, artist: Text, renderer: RendererBase) -> float:
    """The width in pixels of ``text`` in ``artist``'s font."""
    return renderer.get_text_width_height_descent(text, artist.get_fontproperties(),
                                                  ismath=False)[0]


def figure_legend(figure: Figure, handles: Sequence, labels: Sequence[str], anchor: str,
                  width: float) -> Legend:
    """A frameless legend of ``handles`` in as many columns as fit in ``width`` pixels, rows
    balanced (5 entries in 3 columns: 3 + 2), anchored by its ``anchor`` corner ("upper
    center", "upper left") to a point that the caller sets once the layout is known."""
    font = FontProperties(size=LEGEND_FONT)
    renderer = figure.canvas.get_renderer()
    size = renderer.points_to_pixels(font.get_size_in_points())
    widest = max(renderer.get_text_width_height_descent(label, font, ismath=False)[0]
                 for label in labels)
    spacing = COLUMN_SPACING * size
    fit = max(1, int((width + spacing) / (widest + HANDLE_WIDTH * size + spacing)))
    rows = -(-len(labels) // min(fit, len(labels)))
    return figure.legend(handles, labels, loc=anchor, ncols=-(-len(labels) // rows),
                         frameon=False, fontsize=LEGEND_FONT, borderaxespad=0, borderpad=0.2,
                         columnspacing=COLUMN_SPACING)
