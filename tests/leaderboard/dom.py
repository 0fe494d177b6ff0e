"""Read tables out of a page's DOM with the standard library's HTML parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Cell:
    column: str | None
    value: str | None  # the data-value attribute: the number behind the formatted text
    text: str = ""


@dataclass
class Row:
    attrs: dict[str, str | None]
    cells: list[Cell] = field(default_factory=list)

    def cell(self, column: str) -> Cell:
        for cell in self.cells:
            if cell.column == column:
                return cell
        raise KeyError(f"no cell {column!r} in row {self.attrs}")


class _Tables(HTMLParser):
    def __init__(self, table_class: str) -> None:
        super().__init__()
        self.table_class = table_class
        self.tables: list[dict[str, object]] = []
        self._table: dict[str, object] | None = None
        self._row: Row | None = None
        self._cell: Cell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and self.table_class in (a.get("class") or "").split():
            self._table = {"attrs": a, "rows": [], "headers": []}
            self.tables.append(self._table)
        elif self._table is not None and tag == "tr":
            self._row = Row(a)
        elif self._table is not None and self._row is not None and tag in ("td", "th"):
            self._cell = Cell(a.get("data-col"), a.get("data-value"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._table is not None:
            self._table = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            target = "rows" if "data-uid" in self._row.attrs else "headers"
            self._table[target].append(self._row)  # type: ignore[union-attr]
            self._row = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._cell.text = " ".join(self._cell.text.split())
            self._row.cells.append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.text += data


def tables(html: str, table_class: str) -> list[dict[str, object]]:
    """Every `<table class="...">` with that class: its attributes, header rows and `data-uid` rows."""
    parser = _Tables(table_class)
    parser.feed(html)
    return parser.tables
