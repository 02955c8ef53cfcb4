"""Reference exchange rates and price indices, and conversions with every step, under ``/api/v1/reference-rates``."""

from __future__ import annotations

from decimal import Decimal

from registry.reference_rates import NoRate, load_rate_table
from web.api.errors import ApiError, ErrorResponse
from web.api.models import ConversionQuery, ConversionResult, ReferenceRateList, ReferenceRateQuery, ReferenceRateRow
from web.api.operations import operation
from web.extensions import session as db_session


@operation("GET", "/reference-rates", summary="Reference exchange rates and price indices", tag="reference",
           query=ReferenceRateQuery, responses={200: ("The rows in force, each with its source.", ReferenceRateList)})
def list_reference_rates(query: ReferenceRateQuery) -> ReferenceRateList:
    """Exchange rates per euro (annual means of the ECB's daily reference rates) and consumer price indices
    (annual averages) as shipped, or as overridden with ``utfall rates refresh``; filter by currency, table and
    year."""
    table = load_rate_table(session=db_session())
    currency = query.currency.upper() if query.currency else None
    rows = [ReferenceRateRow.of(p) for p in table.points(query.table)
            if (currency is None or p.currency == currency) and (query.year is None or p.year == query.year)]
    return ReferenceRateList(items=rows, currencies=table.currencies(), currencies_with_index=table.cpi_currencies())


@operation("GET", "/reference-rates/convert", summary="Convert an amount to a currency and price year",
           tag="reference", query=ConversionQuery,
           responses={200: ("The result and every step with the rows and sources it used.", ConversionResult),
                      404: ("No reference exchange rate for one of the currencies.", ErrorResponse)})
def convert_amount(query: ConversionQuery) -> ConversionResult:
    """The amount at its year's exchange rate (nearest year the table has, stated), then carried to
    ``price_year``'s prices by the target currency's price index; a currency without an index is converted
    without that step, which the result says (``adjusted`` false, a ``no_cpi`` step)."""
    table = load_rate_table(session=db_session())
    source, target = query.currency.upper(), query.to.upper()
    for field, code in (("currency", source), ("to", target)):
        if code not in table.currencies():
            raise ApiError(404, f"no reference exchange rate for {code}", field)
    try:
        conversion = table.convert(Decimal(query.amount), source, query.year, to_currency=target,
                                   price_year=query.price_year)
    except NoRate as exc:
        raise ApiError(404, str(exc), "currency") from None
    return ConversionResult.of(conversion)
