"""Source spans and diagnostics: the one way every layer reports a user error.

A diagnostic carries a code (``V0301``), a severity, a message, an optional span and a
one-line help. Rendering shows ``file:line:col``, the source line and a caret under the
span, so an error always points at what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

RUN_ABORTED = "V0801"
"""The code of every aborted run (a peer failed, was silent or deviated)."""


@dataclass(frozen=True, order=True)
class Span:
    """A region of one source file; lines and columns count from 1."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning about the user's program or input."""

    code: str
    message: str
    span: Span | None = None
    help: str | None = None
    severity: str = "error"

    def render(self, sources: SourceMap | None = None) -> str:
        """Render as ``file:line:col: error[V0301]: message`` with a caret line."""
        where = f"{self.span}: " if self.span else ""
        lines = [f"{where}{self.severity}[{self.code}]: {self.message}"]
        text = sources.line(self.span.file, self.span.line) if sources and self.span else None
        if text is not None and self.span is not None:
            width = len(str(self.span.line))
            end_col = self.span.end_col if self.span.end_line == self.span.line else len(text) + 1
            carets = max(1, end_col - self.span.col)
            lines.append(f"{' ' * width} |")
            lines.append(f"{self.span.line} | {text}")
            lines.append(f"{' ' * width} | {' ' * (self.span.col - 1)}{'^' * carets}")
        if self.help:
            lines.append(f"  = help: {self.help}")
        return "\n".join(lines)


@dataclass
class SourceMap:
    """The text of every source file seen in a compilation, for rendering carets."""

    files: dict[str, str] = field(default_factory=dict)
    # each file's lines, split once: the checker asks for a line per declaration
    _lines: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def add(self, name: str, text: str) -> None:
        self.files[name] = text
        self._lines.pop(name, None)

    def line(self, name: str, line: int) -> str | None:
        lines = self._lines.get(name)
        if lines is None:
            text = self.files.get(name)
            if text is None:
                return None
            lines = self._lines[name] = text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1].rstrip("\n").expandtabs(1)
        return None


class VeilError(Exception):
    """A user error: one or more diagnostics. The CLI prints them and exits with 1."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: SourceMap | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = sources
        super().__init__(self.render())

    def render(self) -> str:
        errors = [d for d in self.diagnostics if d.severity == "error"]
        body = "\n\n".join(d.render(self.sources) for d in self.diagnostics)
        if len(errors) > 1:
            body += f"\n\n{len(errors)} errors"
        return body

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's text display
        printer.text(self.render())

    def _repr_html_(self) -> str:  # Jupyter's display: the same text, errors in red
        import html

        lines = []
        for line in html.escape(self.render()).splitlines():
            if "error[" in line or "warning[" in line:
                colour = "#b00020" if "error[" in line else "#a15c00"
                line = f"<b style='color:{colour}'>{line}</b>"
            lines.append(line)
        return "<pre>" + "\n".join(lines) + "</pre>"


def error(code: str, message: str, span: Span | None = None, help: str | None = None) -> VeilError:
    """A VeilError holding a single diagnostic."""
    return VeilError([Diagnostic(code, message, span, help)])
