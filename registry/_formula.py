"""Tokenizer, parser and AST of the payment-terms formula language (see docs/payment-terms.md).

The parser is hand-written recursive descent. Formula text is data from contract files and the web
editor, so it is never handed to ``eval``/``exec``/``ast.literal_eval``; a formula can only ever
become one of the node types below.

Grammar, lowest precedence first::

    expr     := or
    or       := and ('or' and)*
    and      := not ('and' not)*
    not      := 'not' not | compare
    compare  := sum (('<'|'<='|'>'|'>='|'=='|'!=') sum)?      # not chainable
    sum      := product (('+'|'-') product)*
    product  := unary (('*'|'/') unary)*
    unary    := ('-'|'+') unary | primary
    primary  := NUMBER | 'true' | 'false' | NAME | NAME '(' args ')' | '(' expr ')' | '[' args ']'

Numbers: ``12``, ``12.5``, ``.5``, ``10_000_000``, ``1e7``, ``2.5e-3``, and a ``%`` suffix (``40%`` is 0.4),
written in ASCII digits only. Columns are 1-based positions in the formula text.

Formula text comes from files and web forms, so its size is bounded (:data:`MAX_LENGTH` characters,
:data:`MAX_TOKENS` tokens, :data:`MAX_NESTING` levels of brackets, calls and prefix operators,
:data:`MAX_DEPTH` levels in the tree): a formula beyond them is a :class:`FormulaSyntaxError`, never a
``RecursionError`` in the parser or in the recursive passes that walk the tree afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
ARITHMETIC = ("+", "-", "*", "/")
LOGICAL = ("and", "or")

# The longest formula in the curated contracts is ~120 characters, ~35 tokens and 5 levels deep.
MAX_LENGTH = 2000
MAX_TOKENS = 400
MAX_NESTING = 32
MAX_DEPTH = 100

_DIGITS = "0123456789"

# [0-9], not \d: \d and Decimal() also read other scripts' digits ("١٢" would be 12).
_NUMBER_RE = re.compile(
    r"(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)?",
    re.ASCII,
)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TWO_CHAR_OPS = ("<=", ">=", "==", "!=")
_ONE_CHAR_OPS = "+-*/(),[]<>"
_HINTS = {
    "=": "use '==' to compare",
    "!": "use 'not' for negation",
    "&": "use 'and'",
    "|": "use 'or'",
    "^": "there is no power operator",
    "'": "the formula language has no strings",
    '"': "the formula language has no strings",
}


class FormulaSyntaxError(ValueError):
    """A formula that does not parse. ``column`` is 1-based."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column
        self.message = message


# --- AST -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: float
    col: int
    text: str = ""


@dataclass(frozen=True)
class Bool:
    value: bool
    col: int


@dataclass(frozen=True)
class Name:
    name: str
    col: int


@dataclass(frozen=True)
class Unary:
    op: str  # '-', '+' or 'not'
    operand: Node
    col: int


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / < <= > >= == != and or
    left: Node
    right: Node
    col: int  # column of the operator


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]
    col: int


@dataclass(frozen=True)
class ListLit:
    items: tuple[Node, ...]
    col: int


Node = Num | Bool | Name | Unary | Binary | Call | ListLit


# --- tokenizer ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # NUM, NAME, KW, OP, EOF
    text: str
    col: int
    value: float = 0.0


def tokenize(text: str) -> list[Token]:
    """Split formula text into tokens; raise :class:`FormulaSyntaxError` on a bad character or number."""
    if len(text) > MAX_LENGTH:
        raise FormulaSyntaxError(MAX_LENGTH + 1, f"the formula is longer than {MAX_LENGTH} characters")
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if len(tokens) >= MAX_TOKENS:
            raise FormulaSyntaxError(
                i + 1, f"the formula has more than {MAX_TOKENS} terms; split it into several payment rules"
            )
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":  # a comment runs to the end of the line
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        col = i + 1
        if ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER_RE.match(text, i)
            assert m is not None  # the first character is a digit or '.digit'
            end = m.end()
            raw = m.group()
            percent = end < n and text[end] == "%"
            if percent:
                end += 1
            if end < n and (text[end].isalnum() or text[end] in "_.%"):
                if text[end].isdigit():
                    raise FormulaSyntaxError(end + 1, f"unexpected digit {text[end]!r} (write numbers in ASCII 0-9)")
                bad = re.match(r"[\w.%]*", text[i:]).group()  # type: ignore[union-attr]
                raise FormulaSyntaxError(col, f"malformed number {bad!r}")
            try:
                dec = Decimal(raw.replace("_", ""))
            except InvalidOperation:  # pragma: no cover - the regex only admits valid decimals
                raise FormulaSyntaxError(col, f"malformed number {raw!r}") from None
            if percent:
                dec = dec / 100
            value = float(dec)
            if value in (float("inf"), float("-inf")):
                raise FormulaSyntaxError(col, f"number {raw!r} is too large")
            tokens.append(Token("NUM", text[i:end], col, value))
            i = end
            continue
        if ch.isdigit():
            raise FormulaSyntaxError(col, f"unexpected digit {ch!r} (write numbers in ASCII 0-9)")
        if ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == "_":
            m = _IDENT_RE.match(text, i)
            assert m is not None
            word = m.group()
            tokens.append(Token("KW" if word in KEYWORDS else "NAME", word, col))
            i = m.end()
            continue
        two = text[i : i + 2]
        if two in _TWO_CHAR_OPS:
            tokens.append(Token("OP", two, col))
            i += 2
            continue
        if ch in _ONE_CHAR_OPS:
            tokens.append(Token("OP", ch, col))
            i += 1
            continue
        hint = _HINTS.get(ch)
        raise FormulaSyntaxError(col, f"unexpected character {ch!r}" + (f" ({hint})" if hint else ""))
    tokens.append(Token("EOF", "", n + 1))
    return tokens


# --- parser ------------------------------------------------------------------------------------------


def _describe(tok: Token) -> str:
    return "the end of the formula" if tok.kind == "EOF" else repr(tok.text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.nesting = 0

    @contextmanager
    def nested(self, tok: Token) -> Iterator[None]:
        """One more level of brackets, call or prefix operator; bounded so that Python's stack never is."""
        if self.nesting >= MAX_NESTING:
            raise FormulaSyntaxError(tok.col, f"the formula is nested more than {MAX_NESTING} levels deep")
        self.nesting += 1
        try:
            yield
        finally:
            self.nesting -= 1

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def at(self, kind: str, *texts: str) -> bool:
        tok = self.tok
        return tok.kind == kind and (not texts or tok.text in texts)

    def parse(self) -> Node:
        if self.tok.kind == "EOF":
            raise FormulaSyntaxError(1, "empty formula")
        node = self.parse_or()
        if self.tok.kind != "EOF":
            tok = self.tok
            if tok.kind in ("NUM", "NAME", "KW") or tok.text in ("(", "["):
                raise FormulaSyntaxError(tok.col, f"expected an operator before {_describe(tok)}")
            raise FormulaSyntaxError(tok.col, f"unexpected {_describe(tok)}")
        _check_depth(node)
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.at("KW", "or"):
            op = self.advance()
            node = Binary("or", node, self.parse_and(), op.col)
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.at("KW", "and"):
            op = self.advance()
            node = Binary("and", node, self.parse_not(), op.col)
        return node

    def parse_not(self) -> Node:
        if self.at("KW", "not"):
            op = self.advance()
            with self.nested(op):
                return Unary("not", self.parse_not(), op.col)
        return self.parse_compare()

    def parse_compare(self) -> Node:
        node = self.parse_sum()
        if self.at("OP", *COMPARISONS):
            op = self.advance()
            node = Binary(op.text, node, self.parse_sum(), op.col)
            if self.at("OP", *COMPARISONS):
                raise FormulaSyntaxError(
                    self.tok.col, "comparisons cannot be chained; combine them with 'and'"
                )
        return node

    def parse_sum(self) -> Node:
        node = self.parse_product()
        while self.at("OP", "+", "-"):
            op = self.advance()
            node = Binary(op.text, node, self.parse_product(), op.col)
        return node

    def parse_product(self) -> Node:
        node = self.parse_unary()
        while self.at("OP", "*", "/"):
            op = self.advance()
            node = Binary(op.text, node, self.parse_unary(), op.col)
        return node

    def parse_unary(self) -> Node:
        if self.at("OP", "-", "+"):
            op = self.advance()
            with self.nested(op):
                return Unary(op.text, self.parse_unary(), op.col)
        return self.parse_primary()

    def parse_args(self, close: str, opener: Token) -> tuple[Node, ...]:
        args: list[Node] = []
        if self.at("OP", close):
            self.advance()
            return ()
        while True:
            args.append(self.parse_or())
            if self.at("OP", ","):
                self.advance()
                continue
            if self.at("OP", close):
                self.advance()
                return tuple(args)
            raise FormulaSyntaxError(
                self.tok.col,
                f"expected ',' or {close!r} to close {opener.text!r} at column {opener.col}, "
                f"found {_describe(self.tok)}",
            )

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "NUM":
            self.advance()
            return Num(tok.value, tok.col, tok.text)
        if tok.kind == "KW" and tok.text in ("true", "false"):
            self.advance()
            return Bool(tok.text == "true", tok.col)
        if tok.kind == "NAME":
            self.advance()
            if self.at("OP", "("):
                opener = self.advance()
                with self.nested(opener):
                    return Call(tok.text, self.parse_args(")", opener), tok.col)
            return Name(tok.text, tok.col)
        if self.at("OP", "("):
            opener = self.advance()
            with self.nested(opener):
                node = self.parse_or()
            if not self.at("OP", ")"):
                raise FormulaSyntaxError(
                    self.tok.col,
                    f"expected ')' to close '(' at column {opener.col}, found {_describe(self.tok)}",
                )
            self.advance()
            return node
        if self.at("OP", "["):
            opener = self.advance()
            with self.nested(opener):
                return ListLit(self.parse_args("]", opener), tok.col)
        if tok.kind == "KW":
            raise FormulaSyntaxError(tok.col, f"expected a value before {tok.text!r}")
        raise FormulaSyntaxError(tok.col, f"expected a value, found {_describe(tok)}")


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListLit):
        return node.items
    return ()


def _check_depth(root: Node) -> None:
    """Refuse a tree deeper than :data:`MAX_DEPTH` (e.g. a long chain ``a + b + c ...``), walking it
    without recursion: the compiler, the describer and :func:`unparse` recurse over the tree."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormulaSyntaxError(
                node.col, f"the formula is more than {MAX_DEPTH} operations deep; split it into several payment rules"
            )
        stack.extend((child, depth + 1) for child in _children(node))


def parse(text: str) -> Node:
    """Parse formula text into an AST; raise :class:`FormulaSyntaxError` (with a column) if it is malformed."""
    return _Parser(text).parse()


# --- unparsing ---------------------------------------------------------------------------------------

_PRECEDENCE = {"or": 1, "and": 2, "not": 3, **dict.fromkeys(COMPARISONS, 4), "+": 5, "-": 5, "*": 6, "/": 6}
_UNARY_PRECEDENCE = 7


def _prec(node: Node) -> int:
    if isinstance(node, Binary):
        return _PRECEDENCE[node.op]
    if isinstance(node, Unary):
        return _PRECEDENCE["not"] if node.op == "not" else _UNARY_PRECEDENCE
    return 10


def unparse(node: Node) -> str:
    """Canonical text for an AST (fully determined by the tree; ``parse(unparse(t))`` gives ``t`` back
    up to columns)."""
    if isinstance(node, Num):
        return repr(node.value)
    if isinstance(node, Bool):
        return "true" if node.value else "false"
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Unary):
        inner = unparse(node.operand)
        if _prec(node.operand) < _prec(node):
            inner = f"({inner})"
        if node.op == "not":
            return f"not {inner}"
        if inner.startswith(("-", "+")):  # '--x' would read as a typo
            inner = f"({inner})"
        return f"{node.op}{inner}"
    if isinstance(node, Binary):
        p = _PRECEDENCE[node.op]
        left, right = unparse(node.left), unparse(node.right)
        # left-associative: the right operand needs brackets at equal precedence; comparisons never chain
        if _prec(node.left) < p or (node.op in COMPARISONS and _prec(node.left) == p):
            left = f"({left})"
        if _prec(node.right) <= p:
            right = f"({right})"
        return f"{left} {node.op} {right}"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(unparse(a) for a in node.args)})"
    if isinstance(node, ListLit):
        return f"[{', '.join(unparse(a) for a in node.items)}]"
    raise TypeError(f"not a formula node: {node!r}")  # pragma: no cover
