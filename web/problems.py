"""Validation messages in the reader's language, in one place.

The registry, the portfolio file checks and pydantic report problems in English (the CLI and the API speak
English). Pages that show those messages to a reader pass them through :func:`localise`, which recognises
the common ones by their wording and gives the catalogue's translation, with the values they quote (limits,
codes, ids) kept and numbers written the reader's way. A message it does not recognise is shown as it is:
better an English sentence than a lost one. English readers get the original messages.

The message ids are marked with ``N_`` so that ``pybabel extract`` finds them; translate them in
``web/translations/sv/LC_MESSAGES/messages.po``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from babel.numbers import format_decimal

from web.formatting import N_, _locale, _reader_locale, translate
from web.vocabulary import vocab

Transform = Callable[[str], str]


def _number(text: str) -> str:
    """``0.5`` → ``0,5`` for Swedish readers; anything that is not a plain number stays as it is."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    return format_decimal(value, format="#,##0.##########", locale=_reader_locale())


def _options(text: str) -> str:
    """``'a', 'b' or 'c'`` → ``'a', 'b' eller 'c'``."""
    return re.sub(r"' or '", "' " + translate(N_("or")) + " '", text)


def _confidence(text: str) -> str:
    return vocab(text.strip("'"), "confidence")


# (pattern over the English message, message id with the pattern's named groups, transforms of groups)
RULES: list[tuple[re.Pattern[str], str, dict[str, Transform]]] = [
    (re.compile(p), msgid, transforms) for p, msgid, transforms in [
        # pydantic's own messages
        (r"^Field required$", N_("This field is required."), {}),
        (r"^Input should be a valid integer(,.*)?$", N_("Enter a whole number."), {}),
        (r"^Input should be a valid (number|decimal)(,.*)?$", N_("Enter a number."), {}),
        (r"^Input should be a finite number$", N_("Enter a finite number."), {}),
        (r"^Input should be a valid string$", N_("Enter text."), {}),
        (r"^Input should be a valid boolean(,.*)?$", N_("Enter yes or no."), {}),
        (r"^Input should be a valid (date|datetime)(,.*)?$", N_("Enter a date (YYYY-MM-DD)."), {}),
        (r"^Input should be a valid URL(,.*)?$", N_("Enter a valid web address (URL)."), {}),
        (r"^Input should be a valid list$", N_("Give a list."), {}),
        (r"^Input should be greater than or equal to (?P<limit>\S+)$", N_("Must be at least %(limit)s."),
         {"limit": _number}),
        (r"^Input should be greater than (?P<limit>\S+)$", N_("Must be greater than %(limit)s."),
         {"limit": _number}),
        (r"^Input should be less than or equal to (?P<limit>\S+)$", N_("Must be at most %(limit)s."),
         {"limit": _number}),
        (r"^Input should be less than (?P<limit>\S+)$", N_("Must be less than %(limit)s."), {"limit": _number}),
        (r"^String should have at least 1 character$", N_("This field is required."), {}),
        (r"^String should have at least (?P<n>\d+) characters$", N_("At least %(n)s characters."), {}),
        (r"^String should have at most (?P<n>\d+) characters?$", N_("At most %(n)s characters."), {}),
        (r"^String should match pattern '(?P<pattern>.*)'$", N_("Not in the expected form (%(pattern)s)."), {}),
        (r"^List should have at least (?P<n>\d+) items? after validation, not \d+$",
         N_("Give at least %(n)s."), {}),
        (r"^Decimal input should have no more than (?P<n>\d+) decimal places?$",
         N_("At most %(n)s decimals."), {}),
        (r"^Input should be (?P<options>'.*)$", N_("Choose one of %(options)s."), {"options": _options}),
        (r"^Extra inputs are not permitted$", N_("Unknown field (check the spelling)."), {}),
        # the registry's checks (registry/schema.py)
        (r"^confidence (?P<level>\S+) needs at least one source id; a fact without a source must be marked "
         r"unverified$", N_("“%(level)s” needs at least one source; a fact without a source must be marked "
                            "unverified."), {"level": _confidence}),
        (r"^a fact with alternatives must have confidence 'disputed'$",
         N_("A fact with other readings must be marked disputed."), {}),
        (r"^give the text in Swedish \(sv\), English \(en\) or both$",
         N_("Give the text in Swedish, English or both."), {}),
        (r"^(?P<value>.+) is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD$",
         N_("%(value)s is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD."), {}),
        (r"^(?P<value>.+) is not an ISO 4217 currency code \(three capital letters\)$",
         N_("%(value)s is not a currency code (three capital letters, e.g. SEK)."), {}),
        (r"^(?P<value>.+) is not an ISO 3166-1 alpha-2 country code$",
         N_("%(value)s is not a country code (two letters, e.g. SE)."), {}),
        (r"^unknown source id (?P<id>.+)$", N_("Unknown source %(id)s."), {}),
        (r"^unknown source (?P<id>.+)$", N_("Unknown source %(id)s."), {}),
        (r"^unknown organisation (?P<id>.+)$", N_("Unknown organisation %(id)s."), {}),
        (r"^unknown outcome metric (?P<id>.+)$", N_("Unknown outcome metric %(id)s."), {}),
        (r"^give exactly one of date or months_after_start$",
         N_("Give either a date or months after the start, not both."), {}),
        # the portfolio file's checks (registry/portfolio_file.py, portfolio/)
        (r"^no exchange rate for (?P<currency>[A-Z]{3}) \(holding (?P<contract>[^)]+)\); state fx\.[A-Z]{3} in "
         r"(?P<base>[A-Z]{3}) per [A-Z]{3}$",
         N_("No exchange rate for %(currency)s (holding %(contract)s): give the rate in %(base)s per "
            "%(currency)s."), {}),
        (r"^no contract (?P<id>.+) in the registry or in the inline contracts$",
         N_("There is no contract %(id)s in the registry."), {}),
        (r"^(?P<contract>\S+): payment terms do not compile: (?P<error>.*)$",
         N_("%(contract)s: the payment terms cannot be evaluated: %(error)s"), {}),
        (r"^(?P<contract>\S+): its payment terms count in (?P<unit>.+), not in (?P<currency>[A-Z]{3}), so they "
         r"cannot enter money totals$",
         N_("%(contract)s: its payment terms count in %(unit)s, not in %(currency)s, so it cannot be held."), {}),
        (r"^(?P<contract>\S+): the contract states no investor capital: hold it as role: payer \(exposure of its "
         r"payers only\)$", N_("%(contract)s: the contract states no investor capital to hold."), {}),
        (r"^factor loadings: the squares must sum to less than 1, got (?P<got>\S+)$",
         N_("Factor loadings: the squares must sum to less than 1 (now %(got)s)."), {"got": _number}),
        (r"^the squared loadings must sum to less than 1 \(got (?P<got>\S+)\)$",
         N_("Factor loadings: the squares must sum to less than 1 (now %(got)s)."), {"got": _number}),
        (r"^at most (?P<limit>[\d,]+) scenarios in the web app \(use the command line for more\)$",
         N_("At most %(limit)s scenarios in the web app (use the command line for more)."),
         {"limit": lambda text: _number(text.replace(",", ""))}),
        (r"^a portfolio needs at least one holding$", N_("Add at least one contract."), {}),
        (r"^n_scenarios must be at least 100$", N_("At least 100 scenarios."), {}),
        (r"^t copula: degrees of freedom must be > 2$", N_("t copula: the degrees of freedom must be over 2."), {}),
        (r"^no holding refers to this contract$", N_("No holding refers to this contract."), {}),
        (r"^give exactly one of amount or share$", N_("Give an amount or a share, not both."), {}),
        # why a contract cannot be held (registry/services/holdings.py)
        (r"^outcome metric (?P<metric>\S+) states no target, so no default outcome model can be set for it$",
         N_("outcome metric %(metric)s states no target, so no default outcome model can be set for it"), {}),
        (r"^the contract states neither a signing date nor a service start date$",
         N_("the contract states neither a signing date nor a service start date"), {}),
        (r"^its payment terms count in (?P<unit>.+), not in money$",
         N_("its payment terms count in %(unit)s, not in money"), {}),
        (r"^no payment in its terms reaches the investors$", N_("no payment in its terms reaches the investors"), {}),
        (r"^the contract states no investor capital$", N_("the contract states no investor capital"), {}),
        (r"^its payment terms cannot be evaluated$", N_("its payment terms cannot be evaluated"), {}),
        (r"^there is no such contract in the registry$", N_("there is no such contract in the registry"), {}),
    ]
]

_PREFIXES = ("Value error, ", "Assertion failed, ")


def localise(message: str) -> str:
    """``message`` in the reader's language when it is one of the known problems, else as it is (without
    pydantic's ``Value error,`` prefix, which tells a reader nothing)."""
    text = message
    for prefix in _PREFIXES:
        text = text.removeprefix(prefix)
    if _locale() == "en":
        return text
    for pattern, msgid, transforms in RULES:
        match = pattern.match(text)
        if match:
            values = {k: transforms.get(k, str)(v) for k, v in match.groupdict().items()}
            return translate(msgid) % values if values else translate(msgid)
    return text
