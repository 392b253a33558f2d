"""The fast path for phone numbers: ``normalise_phone`` with memo tables (``_Phones``), and the
checks on the ``phonenumbers`` metadata that say when a memo entry may be reused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as sre  # type: ignore[attr-defined]  # the regex parser's node types
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

from rapport.core.errors import InvalidInput
from rapport.customers.validation import normalise_phone

# Phone numbers: phonenumbers costs ~100 µs a number, and in a customer file nearly every
# number is distinct, so a per-value cache alone does not help. But whether a number is valid
# (and its E.164 form) cannot depend on its last TAIL digits when every pattern the library
# applies to that country ends in at least TAIL free digits (``\d{n}``) and every prefix
# pattern (leading digits, national and international prefixes) is shorter than the rest.
# Those conditions are checked on the library's own metadata, per country code; when they
# hold, the library's answer for the number with its last digits zeroed is reused for every
# number that shares the rest. Anything else goes to ``normalise_phone`` itself.
PHONE_TAIL = 4
_PHONE_PUNCTUATION = str.maketrans("", "", " -")
_PLAIN_PHONE = re.compile(r"\+?\d{7,17}")


def _free_tail(items: Any) -> int:
    """How many trailing characters every match of a parsed regex takes with ``\\d``."""
    total = 0
    for op, arg in reversed(list(items)):
        if op is sre.IN and arg == [(sre.CATEGORY, sre.CATEGORY_DIGIT)]:
            total += 1
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and list(arg[2]) == [
            (sre.IN, [(sre.CATEGORY, sre.CATEGORY_DIGIT)])
        ]:
            total += arg[0]
        elif op is sre.SUBPATTERN:
            return total + _free_tail(arg[3])
        elif op is sre.BRANCH:
            return total + min(_free_tail(branch) for branch in arg[1])
        else:
            return total
    return total


def _pattern_tail(pattern: str | None) -> int:
    if not pattern:
        return 99  # no pattern: nothing to depend on
    try:
        return _free_tail(sre_parser.parse(pattern))
    except Exception:  # an unexpected construct: treat as tail-dependent
        return 0


def _pattern_width(pattern: str | None) -> int:
    if not pattern:
        return 0
    try:
        parsed = sre_parser.parse(pattern)
        if any(op in (sre.ASSERT, sre.ASSERT_NOT, sre.GROUPREF) for op, _ in _walk(parsed)):
            return 99
        return int(min(parsed.getwidth()[1], 99))
    except Exception:
        return 99


def _walk(items: Any) -> Iterator[tuple[Any, Any]]:
    for op, arg in items:
        yield op, arg
        if op is sre.SUBPATTERN:
            yield from _walk(arg[3])
        elif op is sre.BRANCH:
            for branch in arg[1]:
                yield from _walk(branch)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            yield from _walk(arg[2])


_DESCS = (
    "general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
    "voip", "pager", "uan", "voicemail", "no_international_dialling",
)  # fmt: skip


def _metadata(region: str) -> Any:
    import phonenumbers

    return phonenumbers.PhoneMetadata.metadata_for_region(region)


def _first_digits(items: Any) -> set[str]:
    """Digits a match of a parsed regex can start with (all digits when unsure)."""
    everything = set("0123456789")
    if not items:
        return everything
    op, arg = next(iter(items))
    if op is sre.LITERAL:
        return {chr(arg)}
    if op is sre.IN:
        found: set[str] = set()
        for kind, value in arg:
            if kind is sre.LITERAL:
                found.add(chr(value))
            elif kind is sre.RANGE:
                found.update(chr(v) for v in range(value[0], value[1] + 1))
            else:
                return everything
        return found
    if op is sre.SUBPATTERN:
        return _first_digits(arg[3])
    if op is sre.BRANCH:
        return set().union(*(_first_digits(branch) for branch in arg[1]))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and arg[0] >= 1:
        return _first_digits(arg[2])
    return everything


def _relevant_tail(pattern: str | None, first: str, length: int) -> int:
    """The free tail of the alternatives of ``pattern`` that can match a number of this
    length starting with this digit (an alternative that cannot match does not matter)."""
    if not pattern:
        return 99
    try:
        parsed = sre_parser.parse(pattern)
        items = list(parsed)
        alternatives = items[0][1][1] if len(items) == 1 and items[0][0] is sre.BRANCH else [items]
        tails = [99]
        for alternative in alternatives:
            low, high = sre_parser.SubPattern(parsed.state, list(alternative)).getwidth()
            if low <= length <= high and first in _first_digits(alternative):
                tails.append(_free_tail(alternative))
        return min(tails)
    except Exception:  # an unexpected construct: treat as tail-dependent
        return 0


def _country_bounds(country_code: int, default_region: str, first: str, length: int) -> tuple[int, int]:
    """(smallest free tail over every pattern that matters, widest prefix pattern)."""
    import phonenumbers

    tail, width = 99, 0
    regions = [*phonenumbers.region_codes_for_country_code(country_code), default_region]
    for region in regions:
        meta = _metadata(region)
        if meta is None:
            return 0, 99
        for name in _DESCS:
            desc = getattr(meta, name, None)
            if desc is not None:
                tail = min(tail, _relevant_tail(desc.national_number_pattern, first, length))
        for pattern in (meta.leading_digits, meta.national_prefix_for_parsing, meta.international_prefix):
            width = max(width, _pattern_width(pattern))
    return tail, width


class _Phones:
    """``normalise_phone`` with memo tables (see the comment above)."""

    def __init__(self) -> None:
        from django.conf import settings

        self.region = settings.RAPPORT_DEFAULT_PHONE_REGION
        self.by_value: dict[str, str | InvalidInput] = {}
        self.by_head: dict[str, str | None] = {}  # head -> E.164 without the tail, or None: ask per value
        self.bounds: dict[tuple[int, str, int], tuple[int, int]] = {}

    def __call__(self, raw: str) -> str:
        digits = raw.strip().translate(_PHONE_PUNCTUATION)
        if _PLAIN_PHONE.fullmatch(digits):
            head, tail = digits[:-PHONE_TAIL], digits[-PHONE_TAIL:]
            known = self.by_head.get(head, "")
            if known == "":
                known = self.by_head[head] = self._template(head)
            if known is not None:
                return known + tail
        return self.exact(raw)

    def exact(self, raw: str) -> str:
        found = self.by_value.get(raw)
        if found is None:
            try:
                found = normalise_phone(raw, region=self.region)
            except InvalidInput as exc:
                found = exc
            self.by_value[raw] = found
        if isinstance(found, InvalidInput):
            raise found
        return found

    def _template(self, head: str) -> str | None:
        import phonenumbers

        try:
            e164 = normalise_phone(head + "0" * PHONE_TAIL, region=self.region)
        except InvalidInput:
            return None  # invalid numbers are rare: each gets the library's own message
        # E.164 is "+", the country code, the national number; country codes are prefix-free.
        code = next(
            int(e164[1 : 1 + n]) for n in (1, 2, 3) if int(e164[1 : 1 + n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
        )
        national = e164[1 + len(str(code)) :]
        key = (code, national[:1], len(national))
        if key not in self.bounds:
            self.bounds[key] = _country_bounds(code, self.region, national[:1], len(national))
        tail, width = self.bounds[key]
        if not e164.endswith("0" * PHONE_TAIL) or tail < PHONE_TAIL or width > len(national) - PHONE_TAIL:
            return None
        return e164[:-PHONE_TAIL]
