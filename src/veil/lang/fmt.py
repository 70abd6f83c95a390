"""`veil fmt`: one layout for every Veil program, keeping every comment.

The formatter reads the program with the language's own grammar (grammar/veil.lark,
keeping every token) and writes it back:

- one statement per line, blocks indented by four spaces, `{` at the end of the line
  that opens it, `}` on its own line (`} else {` continues it);
- spaces around binary operators, `=`, `->` and after `,` and `:`; none inside brackets,
  before `(`/`[` of a call, subscript or shape, around `.` and `..`, after a unary `-`;
- blank lines between statements kept (several become one), none at the start or end
  of a block;
- a line break inside a statement is kept after `,`, an opening bracket or a binary
  operator, before a closing bracket, and wherever a comment ends the line (a matrix
  written one row per line stays so); other breaks are joined;
- comments stay where they are: on their own line (indented with the code) or after
  the code of their line. Trailing comments of consecutive one-line statements are
  aligned (three spaces after the longest), and so are the types and `from` of
  consecutive `input`/`param` declarations.

Formatting is idempotent (formatting formatted text changes nothing) and safe: before
returning, the result is lexed again and must hold exactly the tokens and comments of
the original (line breaks are white space in Veil, so the same tokens are the same
program), or `format_source` raises instead of returning a changed program.

How to teach it a new construct: the layout is driven by the grammar's own trees, so a
new statement or operator is formatted by the rules above without a change here. Only a
new rule that opens a block needs nothing either (blocks are the `block` rule); a new
rule whose `(` or `[` must hug the word before it is covered by `_TIGHT_OPEN`; a new
declaration whose columns should align goes into `_ALIGNED`.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from veil.lang.parser import grammar_text, parse

INDENT = "    "
COMMENT_GAP = 3

_OPENERS = {"(": ")", "[": "]"}
_CLOSERS = set(_OPENERS.values())
_TIGHT = {".", ".."}  # no space on either side
_NO_SPACE_BEFORE = {",", ":", ")", "]"}
_TIGHT_OPEN = {"NAME", "BASE", "INT", "FLOAT", "STRING"}
"""Token types after which `(` or `[` is a call, subscript or shape: no space."""
_ALIGNED = {"input_decl", "param_decl"}
"""Declarations whose consecutive lines align their columns (after `NAME:`, at `from`)."""
_COMMENT = re.compile(r"#[^\n]*")


@functools.cache
def _parser() -> Lark:
    return Lark(grammar_text(), parser="lalr", keep_all_tokens=True, propagate_positions=True,
                maybe_placeholders=False)


class FormatError(Exception):
    """The formatter would have changed the program's tokens or comments (a bug)."""


@dataclass
class _Line:
    indent: int
    text: str = ""
    comment: str | None = None
    rule: str = ""  # the statement's grammar rule, for aligning declarations
    single: bool = False  # the whole statement is this one line
    blank: bool = False
    gap: int = COMMENT_GAP  # spaces between the code and its comment


@dataclass
class _Block:
    tree: Tree


@dataclass
class _Formatter:
    text: str
    comments: list[Token]
    out: list[_Line] = field(default_factory=list)
    used: set[int] = field(default_factory=set)  # start positions of emitted comments
    last_source_line: int = 0  # the source line of the last element written
    starts: list[int] = field(default_factory=list)  # the comments' offsets, for bisect

    # ---- lines
    def begin(self, indent: int) -> None:
        self.out.append(_Line(indent))

    def write(self, text: str) -> None:
        self.out[-1].text += text

    def end(self, comment: Token | None = None) -> None:
        if comment is not None:
            self.out[-1].comment = str(comment)
            self.used.add(comment.start_pos)

    def comment_line(self, comment: Token, indent: int) -> None:
        self.out.append(_Line(indent, comment=str(comment)))
        self.used.add(comment.start_pos)

    def blank_if_gap(self, line: int) -> None:
        """One blank line if the source had any between the last element and `line`."""
        if self.out and not self.out[-1].blank and self.last_source_line and \
                line - self.last_source_line > 1:
            self.out.append(_Line(0, blank=True))

    # ---- comments
    def comments_between(self, start: int, end: int) -> list[Token]:
        """Comments not written yet that start in [start, end) (`comments` is sorted)."""
        if not self.starts:
            self.starts = [c.start_pos for c in self.comments]
        lo, hi = bisect.bisect_left(self.starts, start), bisect.bisect_left(self.starts, end)
        return [c for c in self.comments[lo:hi] if c.start_pos not in self.used]

    # ---- statements
    def items(self, items: list[Tree], indent: int, start: int, end: int) -> None:
        """Statements between source offsets `start` and `end`, with the comments there."""
        for item in items:
            for c in self.comments_between(start, item.meta.start_pos):
                self.blank_if_gap(c.line)
                self.comment_line(c, indent)
                self.last_source_line = c.line
            self.blank_if_gap(item.meta.line)
            self.statement(item, indent)
            self.last_source_line = item.meta.end_line
            start = item.meta.end_pos
        for c in self.comments_between(start, end):
            self.blank_if_gap(c.line)
            self.comment_line(c, indent)
            self.last_source_line = c.line

    def statement(self, tree: Tree, indent: int) -> None:
        first = len(self.out)
        self.begin(indent)
        prev_atom: Atom | None = None
        depth = 0
        for atom in _flatten(tree):
            if isinstance(atom, _Block):
                prev_atom = self.block(atom.tree, indent, prev_atom)
                continue
            tok = atom[0]
            if prev_atom is not None:
                prev = prev_atom[0]
                between = self.comments_between(prev.end_pos, tok.start_pos)
                broken = tok.line > prev.end_line
                if broken and (between or _breakable(prev_atom, atom)):
                    closing = tok.value in _CLOSERS
                    level = indent + (depth - 1 if closing else max(1, depth))
                    self.break_line(prev, between, indent + max(1, depth), level)
                elif _space(prev_atom, atom):
                    self.write(" ")
            self.write(tok.value)
            if tok.value in _OPENERS:
                depth += 1
            elif tok.value in _CLOSERS:
                depth -= 1
            prev_atom = atom
        if prev_atom is not None:
            prev = prev_atom[0]
            trailing = [c for c in self.comments_between(prev.end_pos, len(self.text))
                        if c.line == prev.end_line]
            self.end(trailing[0] if trailing else None)
        lines = self.out[first:]
        for line in lines:
            line.rule = tree.data
        if len(lines) == 1:
            lines[0].single = True

    def break_line(self, prev: Token, between: list[Token], comment_indent: int,
                   next_indent: int) -> None:  # fmt: skip
        trailing = between[0] if between and between[0].line == prev.end_line else None
        self.end(trailing)
        for c in between:
            if c is not trailing:
                self.comment_line(c, comment_indent)
        self.begin(next_indent)

    def block(self, tree: Tree, indent: int, prev_atom: Atom | None) -> Atom:
        """`{`, the block's statements one level deeper, `}`; the `}` as the last atom."""
        lbrace, *body, rbrace = tree.children
        assert isinstance(lbrace, Token) and isinstance(rbrace, Token)
        last: Atom = (rbrace, tree, len(tree.children) - 1)
        if prev_atom is not None:
            prev = prev_atom[0]
            between = self.comments_between(prev.end_pos, lbrace.start_pos)
            if between:
                self.break_line(prev, between, indent + 1, indent)
        self.write(" {" if self.out[-1].text else "{")
        statements = [c for c in body if isinstance(c, Tree)]
        inside = self.comments_between(lbrace.end_pos, rbrace.start_pos)
        if not statements and not inside:
            self.write("}")
            return last
        trailing = inside[0] if inside and inside[0].line == lbrace.line else None
        self.end(trailing)
        self.last_source_line = 0  # no blank line at the start of a block
        self.items(statements, indent + 1, lbrace.end_pos, rbrace.start_pos)
        self.begin(indent)
        self.write("}")
        self.last_source_line = rbrace.line
        return last

    # ---- output
    def render(self) -> str:
        _align_declarations(self.out)
        _align_comments(self.out)
        while self.out and self.out[-1].blank:
            self.out.pop()
        lines = []
        for line in self.out:
            if line.blank:
                lines.append("")
                continue
            text = INDENT * line.indent + line.text
            if line.comment is not None:
                text = f"{text}{' ' * line.gap}{line.comment}" if line.text else \
                    INDENT * line.indent + line.comment
            lines.append(text.rstrip())
        return "\n".join(lines) + "\n" if lines else ""


Atom = tuple[Token, Tree, int]
"""A token with the rule it belongs to and its place among that rule's children."""


def _flatten(tree: Tree):
    """The statement's tokens in order, each with its rule and place; blocks whole."""
    for index, child in enumerate(tree.children):
        if isinstance(child, Token):
            yield child, tree, index
        elif child.data == "block":
            yield _Block(child)
        else:
            yield from _flatten(child)


def _prefix(atom: Atom) -> bool:
    """A prefix operator (unary `-`): punctuation first in its rule, with operands after."""
    tok, tree, index = atom
    return index == 0 and len(tree.children) > 1 and not tok.value.isidentifier() \
        and tok.value not in _OPENERS


def _binary(atom: Atom) -> bool:
    """An infix operator (`+`, `==`, `=`, `and`, ...): between two children of its rule."""
    tok, tree, index = atom
    if not 0 < index < len(tree.children) - 1 or tok.value in (":", "->", ",", *_TIGHT):
        return False
    return not tok.value.isidentifier() or tok.value in ("and", "or")


def _breakable(prev: Atom, atom: Atom) -> bool:
    """May a line break of the source stay between these two tokens?"""
    if prev[0].value in (",", *_OPENERS) or atom[0].value in _CLOSERS:
        return True
    return _binary(prev)


def _space(prev_atom: Atom, atom: Atom) -> bool:
    """Is there a space between these two tokens on one line?"""
    prev, tok = prev_atom[0], atom[0]
    if prev.value in (",", ":") and tok.value not in _CLOSERS:
        return True
    if prev.value in _OPENERS or tok.value in _NO_SPACE_BEFORE:
        return False
    if prev.value in _TIGHT or tok.value in _TIGHT:
        return False
    if tok.value in _OPENERS and (prev.type in _TIGHT_OPEN or prev.value in _CLOSERS):
        return False
    return not _prefix(prev_atom)


def _align_declarations(lines: list[_Line]) -> None:
    """Consecutive one-line `input`/`param` declarations: types start in one column, and
    the `from` of the inputs in another."""
    run: list[_Line] = []
    for line in [*lines, _Line(-1)]:
        if line.single and line.rule in _ALIGNED and (not run or run[-1].indent == line.indent):
            run.append(line)
            continue
        if len(run) > 1:
            _align_run(run)
        run = [line] if line.single and line.rule in _ALIGNED else []


def _align_run(run: list[_Line]) -> None:
    cells = []
    for line in run:
        head, sep, rest = line.text.partition(": ")
        if not sep:
            cells.append(None)
            continue
        body, sep2, source = rest.rpartition(" from ") if line.rule == "input_decl" else \
            ("", "", "")
        cells.append((head + ":", body if sep2 else rest, "from " + source if sep2 else None))
    heads = [c[0] for c in cells if c]
    if not heads:
        return
    w0 = max(len(h) for h in heads)
    with_from = [c[1] for c in cells if c and c[2] is not None]
    w1 = max((len(b) for b in with_from), default=0)
    for line, cell in zip(run, cells, strict=True):
        if cell is None:
            continue
        head, body, source = cell
        text = head.ljust(w0) + " " + body
        if source is not None:
            text = head.ljust(w0) + " " + body.ljust(w1) + " " + source
        line.text = text


def _align_comments(lines: list[_Line]) -> None:
    """Trailing comments of consecutive one-line statements start in one column."""
    group: list[_Line] = []
    for line in [*lines, _Line(-1)]:
        if line.single and (not group or group[-1].indent == line.indent):
            group.append(line)
            continue
        _align_group(group)
        group = [line] if line.single else []


def _align_group(group: list[_Line]) -> None:
    commented = [line for line in group if line.comment is not None and line.text]
    if not commented:
        return
    width = max(len(line.text) for line in commented)
    for line in commented:
        line.gap = width - len(line.text) + COMMENT_GAP


def _comments(text: str, tree: Tree) -> list[Token]:
    """The `#` comments of the text (the grammar ignores them): every `#` to the end of
    its line that is not inside a token (a string)."""
    strings = [(t.start_pos, t.end_pos) for t in tree.scan_values(lambda v: isinstance(v, Token))
               if t.type == "STRING"]
    out = []
    for m in _COMMENT.finditer(text):
        if any(a <= m.start() < b for a, b in strings):
            continue
        line = text.count("\n", 0, m.start()) + 1
        column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
        out.append(Token("COMMENT", m.group().rstrip(), start_pos=m.start(), line=line,
                         column=column, end_pos=m.end()))
    return out


@functools.cache
def _lexer() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="basic")


def _signature(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """What formatting must keep: the tokens (type, text) and the comments, in order (from
    the lexer alone: the original parsed, and the result's tokens are the same ones)."""
    tokens, comments = [], []
    for tok in _lexer().lex(text, dont_ignore=True):
        if tok.type == "COMMENT":
            comments.append(tok.value.rstrip())
        elif tok.type != "WS":
            tokens.append((tok.type, tok.value))
    return tokens, comments


def format_source(text: str, file: str = "<input>") -> str:
    """The formatted text; VeilError (V01xx) if it does not parse."""
    try:
        tree = _parser().parse(text)
    except LarkError:
        parse(text, file)  # the language's own syntax error, with file, line and caret
        raise
    formatter = _Formatter(text, _comments(text, tree))
    items = [c for c in tree.children if isinstance(c, Tree)]
    formatter.items(items, 0, 0, len(text))
    result = formatter.render()
    try:
        same = _signature(result) == _signature(text)
    except LarkError:
        same = False
    if not same:
        raise FormatError(f"{file}: formatting would change the program; it was left as is")
    return result
