"""Plain-language rendering of a parsed payment formula, in the language of the caller's gettext.

The sentences are English msgids with named placeholders (extracted into the web app's catalogue); the caller
passes a gettext-like callable for its reader's language, and the language code for the numbers' separators.
"""

from __future__ import annotations

from collections.abc import Callable

from registry import _formula as F

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark ``message`` for ``pybabel extract`` (the registry cannot import the web layer's marker)."""
    return message


# English msgids, translated by the caller's gettext (the web app's catalogue has the Swedish).
_PHRASES = {
    "true": N_("true"), "false": N_("false"), "nothing": N_("nothing"),
    "and": N_("%(left)s and %(right)s"), "or": N_("%(left)s or %(right)s"), "not": N_("not %(x)s"),
    "<": N_("%(left)s is below %(right)s"), "<=": N_("%(left)s is at most %(right)s"),
    ">": N_("%(left)s is above %(right)s"), ">=": N_("%(left)s is at least %(right)s"),
    "==": N_("%(left)s equals %(right)s"), "!=": N_("%(left)s differs from %(right)s"),
    "if": N_("%(a)s if %(c)s, otherwise %(b)s"),
    "min": N_("the smallest of %(args)s"), "max": N_("the largest of %(args)s"), "sum": N_("the sum of %(args)s"),
    "abs": N_("the absolute value of %(x)s"), "cap": N_("%(x)s, at most %(c)s"),
    "floor": N_("%(x)s, at least %(c)s"), "clamp": N_("%(x)s, kept between %(lo)s and %(hi)s"),
    "excess": N_("the part of %(x)s above %(c)s"), "all": N_("all of: %(args)s"), "any": N_("any of: %(args)s"),
    "bands": N_("in bands of %(x)s: %(bands)s"), "below": N_("%(v)s below %(e)s"), "from": N_("%(v)s from %(e)s"),
    "rate_card": N_("the rate card %(p)s (price × outcome, summed over its outcomes)"),
    "cumsum": N_("%(x)s summed over the periods so far"), "lag": N_("%(x)s one period earlier"),
    "lag_k": N_("%(x)s %(k)s periods earlier"), "cumcap": N_("%(x)s, at most %(c)s in total over the periods"),
    "owed": N_("what gives the investors %(r)s a year on their capital"),
    "owed_paid": N_("what gives the investors %(r)s a year on their capital, after the earlier repayments %(p)s"),
}
# Thousands and decimal separators of numbers written in the formula, per language.
_SEPARATORS = {"en": (",", "."), "sv": ("\u00a0", ",")}
_ARITH = {"+": "+", "-": "−", "*": "×", "/": "÷"}


def _number(node: F.Num, thousands: str, decimal: str) -> str:
    text = node.text or repr(node.value)
    if text.endswith("%"):
        return text[:-1].replace("_", "").replace(".", decimal) + "\u00a0%"
    value = node.value
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}".replace(",", thousands)
    return f"{value:g}".replace(".", decimal)


def _untranslated(message: str) -> str:
    return message


def render(node: F.Node, lang: str = "en", gettext: Gettext = _untranslated) -> str:
    """Render a formula AST as a sentence fragment; sub-expressions are bracketed where needed.

    ``gettext`` translates the phrases (English without one); ``lang`` chooses the numbers' separators.
    """
    thousands, decimal = _SEPARATORS.get(lang, _SEPARATORS["en"])

    def say(key: str, **values: str) -> str:
        return gettext(_PHRASES[key]) % values if values else gettext(_PHRASES[key])

    def r(n: F.Node, parent: int = 0) -> str:
        if isinstance(n, F.Num):
            return _number(n, thousands, decimal)
        if isinstance(n, F.Bool):
            return say("true" if n.value else "false")
        if isinstance(n, F.Name):
            return n.name
        if isinstance(n, F.Unary):
            if n.op == "not":
                text = say("not", x=r(n.operand, 3))
                prec = 3
            else:
                text = f"{'−' if n.op == '-' else ''}{r(n.operand, 7)}"
                prec = 7
        elif isinstance(n, F.Binary):
            prec = F._PRECEDENCE[n.op]
            left, right = r(n.left, prec), r(n.right, prec + 1)
            if n.op in _PHRASES:
                text = say(n.op, left=left, right=right)
            else:
                text = f"{left} {_ARITH.get(n.op, n.op)} {right}"
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
                return say("if", a=r(a, 1), c=r(c, 1), b=say("nothing") if zero else r(b, 1))
            if f in ("min", "max", "sum", "all", "any"):
                return say(f, args=", ".join(args))
            if f == "abs":
                return say(f, x=args[0])
            if f in ("cap", "floor", "excess"):
                x, c = args
                return say(f, x=x, c=c)
            if f == "clamp":
                x, lo, hi = args
                return say(f, x=x, lo=lo, hi=hi)
            if f == "bands":
                x, edges, values = n.args
                if isinstance(edges, F.ListLit) and isinstance(values, F.ListLit) and len(values.items) == len(
                    edges.items
                ) + 1 and edges.items:
                    es = [r(e) for e in edges.items]
                    vs = [r(v) for v in values.items]
                    parts = [say("below", v=vs[0], e=es[0])]
                    parts += [say("from", v=v, e=e) for v, e in zip(vs[1:], es, strict=True)]
                    return say("bands", x=r(x, 1), bands="; ".join(parts))
            if f == "rate_card":
                (p,) = args
                return say(f, p=p)
            if f in ("cumsum", "lag") and len(args) == 1:
                return say(f, x=args[0])
            if f == "lag":
                x, k = args
                return say("lag_k", x=x, k=k)
            if f == "cumcap":
                x, c = args
                return say(f, x=x, c=c)
            if f == "owed":
                return say("owed", r=args[0]) if len(args) == 1 else say("owed_paid", r=args[0], p=args[1])
        except ValueError:  # wrong number of arguments: fall through to the plain call
            pass
        return f"{f}({', '.join(args)})"

    return r(node)
