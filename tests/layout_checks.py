"""What makes a figure readable, checked with the renderer that draws it.

The figure is drawn once on an Agg canvas while every text it draws is recorded; then each
drawn text must lie inside the figure, no two may overlap, no legend may cover a plotting
area (the axes' data area) or a text, and the title must be drawn in full.
"""

from __future__ import annotations

from unittest import mock

from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

TOLERANCE_PX = 0.5  # antialiasing reaches half a pixel past a box; that hides nothing


def drawn_texts(figure: Figure) -> tuple[RendererAgg, list[Text]]:
    """Draw ``figure``; its renderer and every visible, non-blank text it drew."""
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else \
        FigureCanvasAgg(figure)
    renderer = canvas.get_renderer()
    with mock.patch.object(Text, "draw", autospec=True, side_effect=Text.draw) as spy:
        figure.draw(renderer)
    texts = {id(call.args[0]): call.args[0] for call in spy.call_args_list}
    return renderer, [t for t in texts.values() if t.get_visible() and t.get_text().strip()]


def layout_problems(figure: Figure, title: str) -> list[str]:
    """What hides something in ``figure``, in words; empty when nothing does."""
    renderer, texts = drawn_texts(figure)
    legends = [*figure.legends, *(a.get_legend() for a in figure.axes if a.get_legend())]
    in_legends = {id(t) for legend in legends for t in (*legend.get_texts(), legend.get_title())}
    boxes = [(repr(t.get_text()), t, t.get_window_extent(renderer))
             for t in texts if id(t) not in in_legends]
    boxes += [(f"legend {i}", legend, legend.get_window_extent(renderer))
              for i, legend in enumerate(legends)]
    problems = [f"{name} at {_fmt(box)} is not inside the figure {_fmt(figure.bbox)}"
                for name, _, box in boxes if not _inside(box, figure.bbox)]
    problems += [f"{a} at {_fmt(box_a)} overlaps {b} at {_fmt(box_b)}"
                 for i, (a, artist_a, box_a) in enumerate(boxes)
                 for b, artist_b, box_b in boxes[i + 1:]
                 if _overlap(box_a, box_b) and not _both_annotations(artist_a, artist_b)]
    problems += [f"legend {i} at {_fmt(box)} overlaps the data area of axes {j} at {_fmt(area)}"
                 for i, legend in enumerate(legends)
                 for box in [legend.get_window_extent(renderer)]
                 for j, axes in enumerate(figure.axes)
                 for area in [axes.get_window_extent(renderer)] if _overlap(box, area)]
    if not any(" ".join(title.split()) in " ".join(t.get_text().split()) for t in texts):
        problems.append(f"the title {title!r} is not drawn in full")
    return problems


def _both_annotations(a: object, b: object) -> bool:
    """Labels placed at data points overlap where the points crowd: the data, not the layout."""
    return isinstance(a, Annotation) and isinstance(b, Annotation)


def _inside(box: Bbox, frame: Bbox) -> bool:
    return (box.x0 >= frame.x0 - TOLERANCE_PX and box.x1 <= frame.x1 + TOLERANCE_PX
            and box.y0 >= frame.y0 - TOLERANCE_PX and box.y1 <= frame.y1 + TOLERANCE_PX)


def _overlap(a: Bbox, b: Bbox) -> bool:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width > TOLERANCE_PX and height > TOLERANCE_PX


def _fmt(box: Bbox) -> str:
    return f"({box.x0:.0f}, {box.y0:.0f})-({box.x1:.0f}, {box.y1:.0f}) px"

