"""The one visual language of vdsl's diagrams: font, palette, mode colours, tables, legends.

Every kind draws with these, so that a mode has the same colour in every diagram, privileged is
always green and an offender always orange, and every diagram reads in greyscale too: fills
differ in lightness, and what colour says is also said in text (a tag, a legend, a bold border).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import graphviz

FONT = "DejaVu Sans"
INK = "#222222"  # text and lines
FAINT = "#777777"  # secondary text, thin rules
ALARM = "#b30000"  # what failed: a divergence, a violation (always said in words too)

# Fills, from dark to light; each light enough for dark text.
FILL = {
    "hardware": "#bdbdbd",
    "firmware": "#d4d4d4",
    "host": "#c6dbef",
    "hypervisor": "#fdd49e",
    "management": "#fcbba1",
    "vm": "#f7f7f7",
    "guest_os": "#deebf7",
    "apps": "#ffffff",
    "engine": "#c7e9c0",
    "privileged": "#a1d99b",
    "offender": "#fdae6b",
    "innocuous": "#f0f0f0",
    "caption": "#ffffff",
}

# Modes: most privileged darkest.  White text on the two darkest, dark text on the rest.
_MODE_RAMP = ("#08306b", "#2171b5", "#6baed6", "#c6dbef", "#eff3ff")


def mode_style(index: int, count: int) -> tuple[str, str]:
    """(fill, text colour) of mode `index` of `count` modes, most privileged (0) darkest."""
    position = 0 if count <= 1 else round(index * (len(_MODE_RAMP) - 1) / (count - 1))
    fill = _MODE_RAMP[position]
    return fill, ("#ffffff" if position < 2 else INK)


def text(value: object) -> str:
    """Text for an HTML-like label, escaped."""
    return html.escape(str(value), quote=True)


def font(content: str, size: int | None = None, bold: bool = False, italic: bool = False,
         color: str | None = None) -> str:
    """`content` (already escaped) in the diagrams' font, optionally sized, bold, italic, coloured."""
    if not content:
        return ""  # graphviz refuses an empty <FONT>
    attributes = [f'FACE="{FONT}"']
    if size is not None:
        attributes.append(f'POINT-SIZE="{size}"')
    if color is not None:
        attributes.append(f'COLOR="{color}"')
    inner = content
    if bold:
        inner = f"<B>{inner}</B>"
    if italic:
        inner = f"<I>{inner}</I>"
    return f"<FONT {' '.join(attributes)}>{inner}</FONT>"


def cell(content: str, fill: str | None = None, colspan: int = 1, port: str | None = None,
         border: int = 1, align: str = "CENTER", padding: int = 6, style: str | None = None,
         rowspan: int = 1, color: str = INK, width: int | None = None, height: int | None = None,
         valign: str | None = None) -> str:
    """One table cell; `content` is label markup (already escaped)."""
    attributes = [f'BORDER="{border}"', f'CELLPADDING="{padding}"', f'ALIGN="{align}"', f'COLOR="{color}"']
    if valign is not None:
        attributes.append(f'VALIGN="{valign}"')
    if width is not None:
        attributes.append(f'WIDTH="{width}"')
    if height is not None:
        attributes.append(f'HEIGHT="{height}"')
    if fill is not None:
        attributes.append(f'BGCOLOR="{fill}"')
    if colspan != 1:
        attributes.append(f'COLSPAN="{colspan}"')
    if rowspan != 1:
        attributes.append(f'ROWSPAN="{rowspan}"')
    if port is not None:
        attributes.append(f'PORT="{port}"')
    if style is not None:
        attributes.append(f'STYLE="{style}"')
    return f"<TD {' '.join(attributes)}>{content}</TD>"


def table(rows: Iterable[Sequence[str]], spacing: int = 0, border: int = 0) -> str:
    """An HTML-like label: a table of rows of cells."""
    body = "".join("<TR>" + "".join(row) + "</TR>\n" for row in rows)  # a line per row: readable DOT
    return (f'<<TABLE BORDER="{border}" CELLBORDER="0" CELLSPACING="{spacing}" CELLPADDING="0">'
            f"{body}</TABLE>>")


def lines(*parts: str, size: int | None = None) -> str:
    """Several lines of (escaped) label markup."""
    return "<BR/>".join(font(p, size) if size else p for p in parts)


def new_graph(name: str, title: str, rankdir: str = "TB") -> graphviz.Digraph:
    """A graph in the house style, with its title above it."""
    graph = graphviz.Digraph(name)
    graph.attr(rankdir=rankdir, fontname=FONT, fontsize="16", labelloc="t", labeljust="l",
               label=f"<{font(text(title), 16, bold=True)}>", color=INK, bgcolor="white", pad="0.3",
               nodesep="0.4", ranksep="0.5")
    graph.attr("node", shape="plain", fontname=FONT, fontsize="11", color=INK, fontcolor=INK)
    graph.attr("edge", fontname=FONT, fontsize="10", color=INK, fontcolor=INK, arrowsize="0.7")
    return graph


def legend(graph: graphviz.Digraph, entries: Sequence[tuple[str, str, str]], name: str = "legend",
           title: str = "Legend") -> None:
    """A legend node: (fill, text colour, meaning) per entry."""
    rows = [[cell(font(text(title), 10, bold=True), border=0, align="LEFT", colspan=2)]]
    for fill, color, meaning in entries:
        rows.append([cell(font("&#160;&#160;&#160;", 10, color=color), fill=fill, padding=4),
                     cell(font(text(meaning), 10), border=0, align="LEFT", padding=4)])
    graph.node(name, label=table(rows, spacing=3))
