"""The checks against existing rows, in a few bulk queries: emails and external ids already
taken, account managers unknown (``_Checker``). ``_taken`` is shared with the order import."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection

from rapport.core.errors import InvalidInput
from rapport.customers import services
from rapport.customers.imports.validating import _Validator
from rapport.customers.models import ContactPoint, ContactPointKind, Customer, format_reference
from rapport.people.models import Staff

LOOKUP_CHUNK = 5000  # values per bulk "already taken?" query


def _chunks(values: list[str], size: int = LOOKUP_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _taken(model: type[Any], column: str, values: list[str], **where: str) -> Iterator[tuple[str, int]]:
    """(value, customer id) for values already in ``column``, a few bulk queries in all."""
    owner = "customer_id" if model is ContactPoint else "id"
    if connection.vendor == "postgresql":
        # One array parameter per 50,000 values: no SQL text with thousands of placeholders.
        condition = "".join(f" AND {name} = %s" for name in where)
        sql = f"SELECT {column}, {owner} FROM {model._meta.db_table} WHERE {column} = ANY(%s){condition}"  # noqa: S608 - names from the model, values as parameters
        with connection.cursor() as cursor:
            for chunk in _chunks(values, 50_000):
                cursor.execute(sql, [chunk, *where.values()])
                yield from cursor.fetchall()
        return
    for chunk in _chunks(values):
        yield from model.objects.filter(**{f"{column}__in": chunk}, **where).values_list(column, owner)


class _Checker:
    """The checks against existing rows, a few bulk queries per look: emails and external ids
    taken, account managers unknown. Each look covers what the validator has seen since the
    last one, so the writer can look chunk by chunk and the dry run once at the end."""

    def __init__(self, check: _Validator) -> None:
        self.check = check
        self.found: dict[str, Staff] = {}  # managers by username
        self.looked_up: set[str] = set()

    def look(self) -> None:
        check = self.check
        emails, check.new_emails = check.new_emails, []
        externals, check.new_externals = check.new_externals, []
        if emails:
            for value, customer_id in _taken(ContactPoint, "value", emails, kind=ContactPointKind.EMAIL.value):
                check.error(
                    check.email_lines[value],
                    "emails",
                    f"{value} already belongs to customer {format_reference(customer_id)}.",
                )
        if externals:
            for value, customer_id in _taken(Customer, "external_id", externals):
                check.error(
                    check.external_lines[value],
                    "external_id",
                    f"The external id '{value}' already belongs to customer {format_reference(customer_id)}.",
                )
        usernames = [name for name in check.managers if name not in self.looked_up]
        if usernames:
            self.looked_up.update(usernames)
            self.found.update((s.username, s) for s in Staff.objects.filter(username__in=usernames))

    def manager_ids(self) -> dict[str, int]:
        return {name: staff.id for name, staff in self.found.items()}

    def managers_ok(self) -> bool:
        """Whether every manager named so far is one a customer may have (no error reported)."""
        return all(self._manager_problem(name) is None for name in self.check.managers)

    def report_managers(self) -> None:
        for username, lines in self.check.managers.items():
            message = self._manager_problem(username)
            if message is not None:
                for line in lines:
                    self.check.error(line, "account_manager", message)

    def _manager_problem(self, username: str) -> str | None:
        try:
            services.clean_customer_input(
                services.CustomerInput(account_manager=username), creating=False, managers=self.found
            )
        except InvalidInput as exc:
            return " ".join(exc.errors.get("account_manager", ["unknown staff member"]))
        return None


def _check_database(check: _Validator) -> dict[str, int]:
    """Bulk checks against existing rows; returns the managers' ids by username."""
    checker = _Checker(check)
    checker.look()
    checker.report_managers()
    return checker.manager_ids()
