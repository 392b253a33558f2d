"""Money: a Decimal amount with an ISO 4217 currency. Never float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies

from rapport.core.errors import InvalidInput

_CURRENCIES = frozenset(list_currencies())


def validate_currency(code: str, field: str = "currency") -> str:
    code = (code or "").strip().upper()
    if code not in _CURRENCIES:
        raise InvalidInput(f"'{code}' is not an ISO 4217 currency code.", field)
    return code


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def parse(cls, amount: object, currency: str, *, field: str = "amount") -> Money:
        """Parse user input; refuses floats' binary noise and more decimals than the currency has."""
        currency = validate_currency(currency, field="currency")
        try:
            value = Decimal(str(amount).strip())
        except (InvalidOperation, ValueError):
            raise InvalidInput(f"'{amount}' is not a number.", field) from None
        if not value.is_finite():
            raise InvalidInput("The amount must be a finite number.", field)
        places = get_currency_precision(currency)
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise InvalidInput(f"{currency} has {places} decimal places; got {amount}.", field)
        return cls(value.quantize(Decimal(1).scaleb(-places)), currency)

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        """Trusted stored values, rounded to the currency's own decimal places."""
        return cls(Decimal(amount).quantize(Decimal(1).scaleb(-get_currency_precision(currency))), currency)

    def format(self, locale: str = "en") -> str:
        return format_currency(self.amount, self.currency, locale=locale)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
