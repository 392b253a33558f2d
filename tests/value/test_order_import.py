"""The order CSV import written chunk by chunk (on PostgreSQL a second thread writes each chunk
while the next is validated): whole or nothing, every bad row reported, customers created once."""

from __future__ import annotations

import io
from typing import Any

import pytest

from rapport.core.errors import Conflict
from rapport.core.models import AuditEntry
from rapport.customers import imports as customer_imports
from rapport.customers.models import Customer
from rapport.value import imports
from rapport.value.models import Order

HEADER = "reference,customer_external_id,ordered_at,revenue,cost,currency\n"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "WRITE_CHUNK", 3)


def run(text: str, **options: Any) -> customer_imports.ImportReport:
    return imports.import_orders(actor=None, source=io.BytesIO(text.encode()), dry_run=False, **options)


def rows(count: int, customer: str = "C{i}", prefix: str = "R") -> str:
    return "".join(
        f"{prefix}{i},{customer.format(i=i % 4)},2025-01-0{1 + i % 9}T10:00:00Z,{i}.50,1.00,EUR\n" for i in range(count)
    )


def test_every_chunk_is_written_and_missing_customers_are_created_once(db: Any) -> None:
    report = run(HEADER + rows(11), create_missing_customers=True)
    assert report.ok and report.created == 11 and report.rows == 11
    assert Customer.objects.count() == 4  # C0..C3 recur in later chunks: created in the first
    assert Order.objects.count() == 11 and Order.objects.get(reference="R10").customer.external_id == "C2"
    assert Order.objects.get(reference="R9").revenue == pytest.approx(9.5)
    audit = AuditEntry.objects.get(action="order.imported")
    assert audit.changes == {"source": "csv", "orders": 11, "customers_created": 4}


@pytest.mark.parametrize(
    ("late", "field"),
    [
        ("R1,C1,2025-01-01,1.00,0,EUR\n", "reference"),  # a reference of a written chunk
        ("R99,NOPE,2025-01-01,1.00,0,EUR\n", "customer_external_id"),
        ("R99,C1,2025-01-01,1.005,0,EUR\n", "revenue"),
        ("TAKEN,C1,2025-01-01,1.00,0,EUR\n", "reference"),  # already in the database
    ],
)
def test_a_bad_row_after_written_chunks_undoes_them(db: Any, late: str, field: str) -> None:
    for external in ("C0", "C1", "C2", "C3"):
        Customer.objects.create(name=external, external_id=external)
    taken = {"reference": "TAKEN", "customer_external_id": "C1", "ordered_at": "2025-01-01", "revenue": "1"}
    imports.create_orders(actor=None, orders=[{**taken, "currency": "EUR"}])
    report = run(HEADER + rows(9) + late + rows(2, prefix="S"))
    assert [(e.line, e.field) for e in report.errors] == [(11, field)] and report.created == 0
    assert list(Order.objects.values_list("reference", flat=True)) == ["TAKEN"]
    assert AuditEntry.objects.filter(action="order.imported", changes__source="csv").count() == 0


def test_a_reference_taken_meanwhile_is_a_conflict(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer stores a reference between the check and the write: the unique constraint
    stops the write and nothing of the file stays."""
    customer = Customer.objects.create(name="C0", external_id="C0")
    Order.objects.create(
        reference="R4", customer=customer, ordered_at="2025-01-01T00:00:00Z", revenue=1, currency="EUR"
    )
    monkeypatch.setattr(customer_imports, "_taken", lambda *args, **kwargs: iter(()))
    with pytest.raises(Conflict):
        run(HEADER + rows(8, customer="C0"))
    assert list(Order.objects.values_list("reference", flat=True)) == ["R4"]
