"""Plain-language rendering of a parsed payment formula, in English or Swedish (for the web page)."""

from __future__ import annotations

from registry import _formula as F

_WORDS = {
    "en": {
        "true": "true", "false": "false", "and": "and", "or": "or", "not": "not",
        "<": "is below", "<=": "is at most", ">": "is above", ">=": "is at least",
        "==": "equals", "!=": "differs from",
        "if": "{a} if {c}, otherwise {b}", "nothing": "nothing",
        "min": "the smallest of {args}", "max": "the largest of {args}", "sum": "the sum of {args}",
        "abs": "the absolute value of {x}", "cap": "{x}, at most {c}", "floor": "{x}, at least {c}",
        "clamp": "{x}, kept between {lo} and {hi}", "excess": "the part of {x} above {c}",
        "all": "all of: {args}", "any": "any of: {args}",
        "bands": "in bands of {x}: {bands}", "below": "{v} below {e}", "from": "{v} from {e}",
        "rate_card": "the rate card {p} (price × outcome, summed over its outcomes)",
        "cumsum": "{x} summed over the periods so far", "lag": "{x} one period earlier",
        "lag_k": "{x} {k} periods earlier", "cumcap": "{x}, at most {c} in total over the periods",
        "owed": "what gives the investors {r} a year on their capital",
        "owed_paid": "what gives the investors {r} a year on their capital, after the earlier repayments {p}",
        "thousands": ",", "decimal": ".",
    },
    "sv": {
        "true": "sant", "false": "falskt", "and": "och", "or": "eller", "not": "inte",
        "<": "understiger", "<=": "är högst", ">": "överstiger", ">=": "är minst",
        "==": "är lika med", "!=": "skiljer sig från",
        "if": "{a} om {c}, annars {b}", "nothing": "inget",
        "min": "det minsta av {args}", "max": "det största av {args}", "sum": "summan av {args}",
        "abs": "absolutbeloppet av {x}", "cap": "{x}, högst {c}", "floor": "{x}, minst {c}",
        "clamp": "{x}, hållet mellan {lo} och {hi}", "excess": "den del av {x} som överstiger {c}",
        "all": "alla av: {args}", "any": "något av: {args}",
        "bands": "i steg efter {x}: {bands}", "below": "{v} under {e}", "from": "{v} från {e}",
        "rate_card": "prislistan {p} (pris × utfall, summerat över dess utfall)",
        "cumsum": "{x} summerat över perioderna hittills", "lag": "{x} en period tidigare",
        "lag_k": "{x} {k} perioder tidigare", "cumcap": "{x}, högst {c} totalt över perioderna",
        "owed": "det som ger investerarna {r} per år på sitt kapital",
        "owed_paid": "det som ger investerarna {r} per år på sitt kapital, efter tidigare återbetalningar {p}",
        "thousands": "\u00a0", "decimal": ",",
    },
}
_ARITH = {"+": "+", "-": "−", "*": "×", "/": "÷"}


def _number(node: F.Num, w: dict[str, str]) -> str:
    text = node.text or repr(node.value)
    if text.endswith("%"):
        return text[:-1].replace("_", "").replace(".", w["decimal"]) + "\u00a0%"
    value = node.value
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}".replace(",", w["thousands"])
    return f"{value:g}".replace(".", w["decimal"])


def render(node: F.Node, lang: str = "en") -> str:
    """Render a formula AST as a sentence fragment; sub-expressions are bracketed where needed."""
    w = _WORDS.get(lang, _WORDS["en"])

    def r(n: F.Node, parent: int = 0) -> str:
        if isinstance(n, F.Num):
            return _number(n, w)
        if isinstance(n, F.Bool):
            return w["true" if n.value else "false"]
        if isinstance(n, F.Name):
            return n.name
        if isinstance(n, F.Unary):
            if n.op == "not":
                text = f"{w['not']} {r(n.operand, 3)}"
                prec = 3
            else:
                text = f"{'−' if n.op == '-' else ''}{r(n.operand, 7)}"
                prec = 7
        elif isinstance(n, F.Binary):
            prec = F._PRECEDENCE[n.op]
            op = _ARITH.get(n.op) or w.get(n.op, n.op)
            text = f"{r(n.left, prec)} {op} {r(n.right, prec + 1)}"
        elif isinstance(n, F.Call):
            text = call(n)
            # a phrase ("x, at most c") inside arithmetic or another phrase needs brackets
            prec = 10 if text.endswith(")") and text.startswith(f"{n.func}(") else 0
        else:  # a list outside bands(): render it plainly
            return "[" + ", ".join(r(i) for i in n.items) + "]"
        return f"({text})" if prec < parent else text

    def call(n: F.Call) -> str:
        args = [r(a, 1) for a in n.args]
        f = n.func
        try:
            if f == "if":
                c, a, b = n.args
                zero = isinstance(b, F.Num) and b.value == 0
                return w["if"].format(a=r(a, 1), c=r(c, 1), b=w["nothing"] if zero else r(b, 1))
            if f in ("min", "max", "sum", "all", "any"):
                return w[f].format(args=", ".join(args))
            if f == "abs":
                return w[f].format(x=args[0])
            if f in ("cap", "floor", "excess"):
                x, c = args
                return w[f].format(x=x, c=c)
            if f == "clamp":
                x, lo, hi = args
                return w[f].format(x=x, lo=lo, hi=hi)
            if f == "bands":
                x, edges, values = n.args
                if isinstance(edges, F.ListLit) and isinstance(values, F.ListLit) and len(values.items) == len(
                    edges.items
                ) + 1 and edges.items:
                    es = [r(e) for e in edges.items]
                    vs = [r(v) for v in values.items]
                    parts = [w["below"].format(v=vs[0], e=es[0])]
                    parts += [w["from"].format(v=v, e=e) for v, e in zip(vs[1:], es, strict=True)]
                    return w["bands"].format(x=r(x, 1), bands="; ".join(parts))
            if f == "rate_card":
                (p,) = args
                return w[f].format(p=p)
            if f in ("cumsum", "lag") and len(args) == 1:
                return w[f].format(x=args[0])
            if f == "lag":
                x, k = args
                return w["lag_k"].format(x=x, k=k)
            if f == "cumcap":
                x, c = args
                return w[f].format(x=x, c=c)
            if f == "owed":
                return w["owed"].format(r=args[0]) if len(args) == 1 else w["owed_paid"].format(r=args[0], p=args[1])
        except ValueError:  # wrong number of arguments: fall through to the plain call
            pass
        return f"{f}({', '.join(args)})"

    return r(node)
