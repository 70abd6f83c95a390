"""A small TextMate grammar tokenizer, enough to test grammar/vscode/syntaxes/*.json.

It follows the TextMate rules that editors implement: a grammar is matched one line at a
time; at each position every pattern of the current context (includes resolved, in
order) is searched from there, the leftmost match wins and, at equal positions, the
earlier pattern; `match` rules scope their text (and `captures` groups within it);
`begin`/`end` rules open a context whose `patterns` apply until `end` matches. The
regular expressions of the grammar stay within what Python's `re` and Oniguruma read
the same way (word boundaries, lookahead, classes), so the scopes here are those an
editor shows; the Veil grammar was also checked once with vscode-textmate itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Rule:
    name: str | None = None
    match: re.Pattern | None = None
    captures: dict[int, str] = field(default_factory=dict)
    begin: re.Pattern | None = None
    end: str | None = None  # compiled per use: it may refer to begin's groups
    content_name: str | None = None
    begin_captures: dict[int, str] = field(default_factory=dict)
    end_captures: dict[int, str] = field(default_factory=dict)
    patterns: list[Rule] = field(default_factory=list)


def _captures(spec: dict[str, Any] | None) -> dict[int, str]:
    return {int(k): v["name"] for k, v in (spec or {}).items() if "name" in v}


class Grammar:
    def __init__(self, path: Path) -> None:
        self.data = json.loads(path.read_text(encoding="utf-8"))
        self.scope = self.data["scopeName"]
        self.repository = self.data.get("repository", {})
        self.cache: dict[int, list[Rule]] = {}
        self.root = self._patterns(self.data["patterns"])

    def _patterns(self, specs: list[dict[str, Any]]) -> list[Rule]:
        out: list[Rule] = []
        for spec in specs:
            out += self._rule(spec)
        return out

    def _rule(self, spec: dict[str, Any]) -> list[Rule]:
        if "include" in spec:
            ref = spec["include"]
            if ref == "$self":
                return self.root
            return self._rule(self.repository[ref.lstrip("#")])
        if "match" in spec:
            return [Rule(spec.get("name"), re.compile(spec["match"]),
                         _captures(spec.get("captures")))]
        if "begin" in spec:
            both = _captures(spec.get("captures"))
            return [Rule(spec.get("name"), begin=re.compile(spec["begin"]), end=spec["end"],
                         content_name=spec.get("contentName"),
                         begin_captures=_captures(spec.get("beginCaptures")) or both,
                         end_captures=_captures(spec.get("endCaptures")) or both,
                         patterns=self._patterns(spec.get("patterns", [])))]
        return self._patterns(spec.get("patterns", []))


Token = tuple[int, int, tuple[str, ...]]  # start, end (in the line), scopes outermost first


def tokenize(grammar: Grammar, text: str) -> list[list[Token]]:
    """The tokens of each line of `text`; text no pattern matches has the root scope."""
    stack: list[tuple[Rule, re.Pattern, tuple[str, ...]]] = []
    lines: list[list[Token]] = []
    for line in text.split("\n"):
        tokens: list[Token] = []
        pos = 0
        while True:
            scopes = stack[-1][2] if stack else (grammar.scope,)
            rules = stack[-1][0].patterns if stack else grammar.root
            best: tuple[re.Match, Rule | None] | None = None
            if stack:
                m = stack[-1][1].search(line, pos)
                if m:
                    best = (m, None)  # the end pattern wins ties
            for rule in rules:
                m = (rule.match or rule.begin).search(line, pos)  # type: ignore[union-attr]
                if m and (best is None or m.start() < best[0].start()):
                    best = (m, rule)
            if best is None:
                if pos < len(line):
                    tokens.append((pos, len(line), scopes))
                break
            m, rule = best
            if m.start() > pos:
                tokens.append((pos, m.start(), scopes))
            if rule is None:  # the context ends
                closing, _, outer = stack.pop()
                inner = outer + ((closing.name,) if closing.name else ())
                tokens += _scoped(m, inner, closing.end_captures)
            elif rule.match is not None:
                inner = scopes + ((rule.name,) if rule.name else ())
                tokens += _scoped(m, inner, rule.captures)
            else:
                inner = scopes + ((rule.name,) if rule.name else ())
                tokens += _scoped(m, inner, rule.begin_captures)
                content = inner + ((rule.content_name,) if rule.content_name else ())
                groups = [m.group(0), *m.groups()]
                end = re.compile(re.sub(r"\\(\d)",
                                        lambda g, groups=groups: re.escape(groups[int(g[1])] or ""),
                                        rule.end or "$"))
                stack.append((rule, end, content))
            if m.end() > m.start():
                pos = m.end()
            elif m.start() < len(line):  # an empty match: the character keeps its context
                tokens.append((m.start(), m.start() + 1, scopes))
                pos = m.start() + 1
            else:
                break
        lines.append(tokens)
    return lines


def _scoped(m: re.Match, scopes: tuple[str, ...], captures: dict[int, str]) -> list[Token]:
    """The match as tokens: the whole with `scopes`, capture groups with one scope more
    (nested groups take their outer group's scope)."""
    if m.start() == m.end():
        return []
    whole = scopes + ((captures[0],) if 0 in captures else ())
    groups = sorted((m.start(g), m.end(g), name) for g, name in captures.items()
                    if 0 < g <= m.re.groups and m.start(g) >= 0 and m.end(g) > m.start(g))
    out: list[Token] = []
    pos = m.start()
    for start, end, name in groups:
        if start < pos:
            continue
        if start > pos:
            out.append((pos, start, whole))
        out.append((start, end, (*whole, name)))
        pos = end
    if pos < m.end():
        out.append((pos, m.end(), whole))
    return out


def char_scopes(grammar: Grammar, text: str) -> list[tuple[str, ...] | None]:
    """The scopes of every character of `text` (None for newlines)."""
    out: list[tuple[str, ...] | None] = []
    for line, tokens in zip(text.split("\n"), tokenize(grammar, text), strict=True):
        row: list[tuple[str, ...]] = [(grammar.scope,)] * len(line)
        for start, end, scopes in tokens:
            for i in range(start, end):
                row[i] = scopes
        out += row
        out.append(None)
    return out[:len(text)]
