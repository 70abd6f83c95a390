"""A lean driver for the grammar's LALR table: source text to AST in linear time.

lark builds the LALR(1) table of `grammar/veil.lark` and remains the parser of record:
this module only runs that table faster. lark's general driver spends most of its time
in per-rule wrapper objects (positions, child filters, single-child expansion) and then
walks the finished tree a second time to build the AST; on a 300,000-line program that
was about two minutes. Here each rule's reduction is compiled once into a small plan
(which children to keep, which helper lists to splice, whether a `?rule` passes its one
child through), positions travel beside the values, and the AST builders of
`veil.lang.parser` run during the reductions, so the tree is never built.

Positions follow lark's `propagate_positions` exactly: a node spans from the start of its
first child's *container* to the end of its last (a parenthesized expression's own span
excludes the parentheses, its parent's includes them). Tokens are typed as lark's
contextual lexer types them: a keyword is a keyword where the parser state accepts it,
and a NAME elsewhere.

Anything this driver does not expect — a token the table rejects, a character no
terminal matches — makes `parse` return None, and the caller parses with lark, which
gives the real diagnostic. So the fast path changes speed, never results; the test
compares the two on every shipped program and on random ones (tests/test_fuzz.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lark
from lark import Token
from lark.lexer import PatternStr
from lark.parsers.lalr_analysis import Shift

from veil.deep import MAX_NESTING


class _Splice(list):
    """The items of a lark helper rule (`item*`), spliced into the parent's children."""


class _Meta:
    """The meta argument the AST builders read: where the node starts and ends."""

    __slots__ = ("column", "empty", "end_column", "end_line", "line")

    def __init__(self, start: tuple[int, int] | None, end: tuple[int, int] | None) -> None:
        self.empty = start is None or end is None
        if start is not None and end is not None:
            self.line, self.column = start
            self.end_line, self.end_column = end


@dataclass
class _Plan:
    """How to reduce by one rule."""

    origin: str
    size: int
    keep: tuple[tuple[int, bool, int], ...]  # (child index, splice it, Nones before it)
    trailing_nones: int
    expand1: bool  # a `?rule` without alias: one kept child passes through
    splice: bool  # a helper rule: its result is spliced into the parent
    name: str  # the AST builder's name (the rule's alias or name)
    unit: bool = False  # a `?rule` of one kept child: the reduction changes only the state


class TooDeep(Exception):
    """The program nests deeper than veil.deep.MAX_NESTING (the caller reports V0104)."""

    def __init__(self, start: tuple[int, int] | None) -> None:
        super().__init__()
        self.start = start


class FastParser:
    """The LALR table of a lark parser, driven without lark's per-rule wrappers."""

    def __init__(self, parser: lark.Lark) -> None:
        table = parser.parser.parser.parser.parse_table
        self.states: dict[int, dict[str, tuple]] = table.states
        self.start_state = table.start_states["start"]
        self.end_state = table.end_states["start"]
        assert set(parser.lexer_conf.ignore) == {"WS", "COMMENT"}
        self.keywords: dict[str, str] = {}
        punctuation: dict[str, str] = {}
        regexps: dict[str, str] = {}
        for term in parser.terminals:
            if isinstance(term.pattern, PatternStr):
                value = term.pattern.value
                (self.keywords if value.isidentifier() else punctuation)[value] = term.name
            else:
                regexps[term.name] = term.pattern.to_regexp()
        # LABEL and BASE are alternations of words: each word is a keyword of that type
        for name in ("LABEL", "BASE"):
            for word in re.findall(r"\w+", regexps.pop(name)):
                self.keywords[word] = name
        order = ["WS", "COMMENT", "FLOAT", "INT", "NAME", "STRING"]
        assert set(regexps) == set(order), f"unexpected terminals {sorted(regexps)}"
        # White space other than newlines is skipped inside each token's match, and a
        # newline is its own match (that is where the line count changes).
        assert regexps["WS"] == "(?:[ \t\x0c\r\n])+", regexps["WS"]
        alternatives = ["(?P<NL>\n)"] + [f"(?P<{name}>{regexps[name]})" for name in order[1:]]
        ops = sorted(punctuation, key=len, reverse=True)
        alternatives.append("(?P<OP>" + "|".join(re.escape(op) for op in ops) + ")")
        self.token_re = re.compile("[ \t\x0c\r]*(?:" + "|".join(alternatives) + ")")
        self.punctuation = punctuation
        self.plans = {rule: self._plan(rule) for rule in parser.rules}
        self.units: dict[tuple[int, int, str], int | None] = {}
        self.kept_kinds = {str(sym.name) for rule in parser.rules for sym in rule.expansion
                           if sym.is_term and not sym.filter_out}
        # The table with each reduction's plan in place of its rule (hashing a lark Rule
        # is a Python call), split into terminal actions and nonterminal gotos.
        self.actions: dict[int, dict[str, tuple[bool, Any]]] = {}
        self.goto: dict[int, dict[str, int]] = {}
        for state, row in self.states.items():
            self.actions[state] = {kind: (True, arg) if action is Shift else
                                   (False, self.plans[arg])
                                   for kind, (action, arg) in row.items() if kind.isupper()
                                   or kind == "$END"}
            self.goto[state] = {str(kind): arg for kind, (action, arg) in row.items()
                                if not (kind.isupper() or kind == "$END") and action is Shift}

    @staticmethod
    def _plan(rule: Any) -> _Plan:
        options = rule.options
        empty = list(options.empty_indices) if options.empty_indices else []
        if empty:
            text = "".join(str(int(b)) for b in empty)
            nones = [len(ones) for ones in text.split("0")]
        else:
            nones = [0] * (len(rule.expansion) + 1)
        keep = []
        pending = 0
        for i, sym in enumerate(rule.expansion):
            pending += nones[i]
            if options.keep_all_tokens or not (sym.is_term and sym.filter_out):
                keep.append((i, not sym.is_term and sym.name.startswith("_"), pending))
                pending = 0
        pending += nones[len(rule.expansion)]
        name = rule.alias or rule.origin.name
        expand1 = bool(options.expand1) and not rule.alias
        unit = expand1 and len(rule.expansion) == 1 and keep == [(0, False, 0)] and not pending
        return _Plan(str(rule.origin.name), len(rule.expansion), tuple(keep), pending, expand1,
                     name.startswith("_"), str(name), unit)

    def tokens(self, text: str):
        """(type, value, start offset, line, column, end line, end column) per token;
        types are lark's, keywords resolved later against the parser state."""
        line, line_start = 1, 0
        pos, n = 0, len(text)
        match = self.token_re.match
        punctuation = self.punctuation
        while pos < n:
            found = match(text, pos)
            if found is None:
                if text[pos:].strip(" \t\x0c\r"):
                    return  # a character no terminal matches: lark will say which
                break
            kind = found.lastgroup
            pos = found.end()
            if kind == "NL":
                line += 1
                line_start = pos
                continue
            if kind == "COMMENT":
                continue
            start = found.start(kind)
            value = found.group(kind)
            if kind == "OP":
                kind = punctuation[value]
            col = start - line_start + 1
            yield kind, value, start, line, col, line, col + len(value)
        yield "$END", "", n, line, n - line_start + 1, line, n - line_start + 1

    def _after_units(self, below: int, top: int, kind: str) -> int | None:
        """The state after every unit reduction (`expr: or_expr`, ...) that lookahead
        `kind` causes on top of `below`: one lookup for a chain of ten reductions (the
        chain depends only on these three, so it is computed once)."""
        key = (below, top, kind)
        found = self.units.get(key, -1)
        if found != -1:
            return found
        state: int | None = top
        while state is not None:
            shift, arg = self.actions[state].get(kind, (None, None))
            if shift is not False or not arg.unit:
                break
            state = self.goto[below].get(arg.origin)
        self.units[key] = state
        return state

    def parse(self, text: str, transformer: Any) -> Any:
        """The AST of `start` built by `transformer`'s methods (veil.lang.parser._ToAst),
        or None when lark must decide (an error, a surprise)."""
        builder = builders_of(transformer)
        build = {plan.name: builder(plan.name) for plan in self.plans.values()
                 if not plan.splice}
        actions_of = self.actions
        goto_of = self.goto
        keywords = self.keywords
        kept_kinds = self.kept_kinds
        end_state = self.end_state
        # One stack of states and one of entries (value, start, end, depth): start and
        # end are the value's container, as lark's propagate_positions computes them.
        state_stack = [self.start_state]
        stack: list[tuple[Any, Any, Any, int]] = []
        for kind, value, offset, line, col, end_line, end_col in self.tokens(text):
            actions = actions_of[state_stack[-1]]
            if kind == "NAME" and value in keywords and keywords[value] in actions:
                kind = keywords[value]
            if kind not in actions:
                return None
            # a token the grammar filters out (`let`, `(`) is only a position: no Token
            token = Token(kind, value, offset, line, col, end_line, end_col,
                          offset + len(value)) if kind in kept_kinds else value
            while True:
                shift, arg = actions_of[state_stack[-1]].get(kind, (None, None))
                if shift is None:
                    return None
                if shift:
                    if kind == "$END":
                        return None
                    state_stack.append(arg)
                    stack.append((token, (line, col), (end_line, end_col), 0))
                    break
                plan: _Plan = arg
                if plan.unit:  # `?rule: child`: the same entry, another state
                    state = self._after_units(state_stack[-2], state_stack[-1], kind)
                    if state is None:
                        return None
                    state_stack[-1] = state
                    continue
                size = plan.size
                if size:
                    entries = stack[-size:]
                    del state_stack[-size:], stack[-size:]
                else:
                    entries = []
                start = end = None
                depth = 0
                for entry in entries:
                    if entry[3] > depth:
                        depth = entry[3]
                    if start is None and entry[1] is not None:
                        start = entry[1]
                    if entry[2] is not None:
                        end = entry[2]
                kept: list[Any] = []  # the children the builder gets (lark's filter)
                for index, splice, nones in plan.keep:
                    if nones:
                        kept += [None] * nones
                    if splice:
                        if kept:
                            kept += entries[index][0]
                        else:  # left recursion (`item*`): grow the list in place
                            kept = entries[index][0]
                    else:
                        kept.append(entries[index][0])
                if plan.trailing_nones:
                    kept += [None] * plan.trailing_nones
                if plan.splice:
                    result: Any = kept if type(kept) is _Splice else _Splice(kept)
                elif plan.expand1 and len(kept) == 1:
                    result = kept[0]
                else:
                    result = build[plan.name](_Meta(start, end), kept)
                    depth += 1
                    if depth > MAX_NESTING:
                        raise TooDeep(start)
                state = goto_of[state_stack[-1]].get(plan.origin)
                if state is None:
                    return None
                state_stack.append(state)
                stack.append((result, start, end, depth))
                if kind == "$END" and state == end_state:
                    return result
        return None


def builders_of(transformer: Any) -> Callable[[str], Callable[[_Meta, list], Any]]:
    """For each rule name, a function (meta, children) → AST node, from the methods of
    veil.lang.parser's lark Transformer (v_args(meta=True) methods take the meta)."""
    cls = type(transformer)

    def builder(name: str) -> Callable[[_Meta, list], Any]:
        method = getattr(cls, name, None)
        if method is None:
            default = transformer.__default__
            return lambda meta, children: default(name, children, meta)
        base = getattr(method, "base_func", method)
        if getattr(method, "visit_wrapper", None) is not None:
            return lambda meta, children: base(transformer, meta, children)
        return lambda meta, children: base(transformer, children)

    return builder


__all__ = ["FastParser", "TooDeep", "builders_of"]
