"""Customer CSV import/export through the service, the API and the background job."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from rapport.core.errors import Conflict, InvalidInput, PermissionDenied
from rapport.core.models import AuditEntry
from rapport.customers import imports, services
from rapport.customers.imports import checks, export_customers, fast_normalise_email, import_customers, validating
from rapport.customers.models import ContactPoint, Customer, ImportJob, ImportStatus, NameKey
from rapport.customers.queries import CustomerFilters
from rapport.customers.tasks import run_import
from rapport.customers.validation import normalise_email
from rapport.people.models import Staff
from tests.conftest import ApiClient, api_for

HEADER = "name,kind,status,emails,phones,account_manager,external_id,tags,consent_email,notes\n"
GOOD = (
    HEADER
    + "Jane Smith,person,active,jane@example.com;J.Smith@Example.org,020 7946 0018,mo,EXT-1,vip;Gold,yes,likes tea\n"
    + 'Acme Ltd,organisation,prospect,info@acme.example.com,,,EXT-2,gold,0,"two\nlines"\n'
    + "Bob Jones,,,,+44 7911 123456;07911 123457,,,,,\n"
)


def run(actor: Staff | None, text: str | bytes, dry_run: bool = False) -> imports.ImportReport:
    source: Any = io.BytesIO(text.encode() if isinstance(text, str) else text)
    return import_customers(actor=actor, source=source, dry_run=dry_run)


def lines_of(report: imports.ImportReport) -> list[tuple[int, str]]:
    return [(e.line, e.field) for e in report.errors]


def test_good_file_imports_every_row(manager: Staff) -> None:
    report = run(manager, GOOD)
    assert report.errors == [] and report.rows == 3 and report.created == 3
    jane = Customer.objects.get(external_id="EXT-1")
    assert (
        jane.status == "active" and jane.account_manager == manager and jane.consent_email and jane.notes == "likes tea"
    )
    points = list(jane.contact_points.order_by("kind", "-is_primary").values_list("kind", "value", "is_primary"))
    assert points == [
        ("email", "jane@example.com", True),
        ("email", "j.smith@example.org", False),
        ("phone", "+442079460018", True),
    ]
    assert sorted(t.name for t in jane.tags.all()) == ["gold", "vip"]
    assert set(NameKey.objects.filter(customer=jane).values_list("key", flat=True)) == {"jane", "smith"}
    assert Customer.objects.get(external_id="EXT-2").notes == "two\nlines"
    bob = Customer.objects.get(name="Bob Jones")
    assert bob.kind == "person" and bob.status == "prospect" and bob.language == "en"
    assert list(bob.contact_points.values_list("value", flat=True)) == ["+447911123456", "+447911123457"]
    entry = AuditEntry.objects.get(action="customer.imported")
    assert entry.subject_type == "import" and entry.changes["created"] == 3
    first, last = entry.changes["customer_id_ranges"][0]
    assert last - first == 2
    # Found by the API's search, like any customer.
    assert [c.id for c in Customer.objects.filter(id=jane.id)] == [jane.id]


def test_bad_rows_are_all_reported_and_nothing_is_imported(manager: Staff) -> None:
    text = (
        HEADER
        + "Good Person,,,good@example.com,,,,,,\n"
        + ",person,,,,,,,,\n"  # line 3: no name
        + "Kim,robot,unknown,not-an-email,12,,,,maybe,\n"  # line 4: four mistakes
        + 'Quoted,,,,,,,,,"a\nb\nc"\n'  # lines 5-7
        + "After Newlines,,,x@@y,,nobody,,,,\n"  # line 8: bad email, unknown manager
    )
    report = run(manager, text)
    assert report.created == 0
    assert lines_of(report) == [
        (3, "name"),
        (4, "kind"),
        (4, "status"),
        (4, "emails"),
        (4, "phones"),
        (4, "consent_email"),
        (8, "emails"),
        (8, "account_manager"),
    ]
    assert "nobody" in report.errors[-1].message
    assert Customer.objects.count() == 0 and ContactPoint.objects.count() == 0


def test_dry_run_writes_nothing(manager: Staff) -> None:
    report = run(manager, GOOD, dry_run=True)
    assert report.errors == [] and report.rows == 3 and report.created == 0
    assert Customer.objects.count() == 0 and not AuditEntry.objects.filter(action="customer.imported").exists()


def test_duplicates_within_the_file_and_against_the_database(manager: Staff) -> None:
    services.create_customer(
        actor=manager, data=services.CustomerInput(name="Old", emails=["old@example.com"], external_id="OLD")
    )
    text = (
        "name,emails,external_id\n"
        "A,a@example.com,X1\n"
        "B,A@example.com,X2\n"  # same email as line 2
        "C,c@example.com,X1\n"  # same external id as line 2
        "D,old@example.com,\n"  # taken in the database
        "E,,OLD\n"
    )
    report = run(manager, text)
    assert lines_of(report) == [
        (2, "emails"),
        (2, "external_id"),
        (3, "emails"),
        (4, "external_id"),
        (5, "emails"),
        (6, "external_id"),
    ]
    assert "line 3" in report.errors[0].message and "line 2" in report.errors[2].message
    assert "CU-" in report.errors[4].message
    assert Customer.objects.count() == 1


def test_bom_is_accepted_and_other_encodings_refused(manager: Staff) -> None:
    assert run(manager, b"\xef\xbb\xbfname,notes\nJos\xc3\xa9,\n", dry_run=True).errors == []
    report = run(manager, "name,notes\nA,\nJosé,\n".encode("latin-1"))
    assert lines_of(report) == [(3, "file")] and "UTF-8" in report.errors[0].message
    report = run(manager, "name\nA\n".encode("utf-16"))
    assert lines_of(report) == [(1, "file")]


def test_header_problems_are_one_error_at_line_one(manager: Staff) -> None:
    report = run(manager, "nam,colour\nA,red\n")
    assert len(report.errors) == 1 and report.errors[0].line == 1
    assert "colour" in report.errors[0].message and "'name'" in report.errors[0].message


def test_str_and_path_sources(manager: Staff, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(GOOD, encoding="utf-8")
    assert import_customers(actor=manager, source=path, dry_run=True).rows == 3
    assert import_customers(actor=manager, source=io.StringIO(GOOD), dry_run=True).rows == 3


@pytest.mark.parametrize(
    "raw",
    [
        "Jane@Example.com",
        "a.b+c@sub.example.co.uk",
        "x@localhost",
        "a..b@example.com",
        "é@example.com",
        "a@xn--bcher-kva.example",
        "a@ex--ample.com",
        "a@example.test",
        ".a@example.com",
        "a@-x.com",
        "  b@example.org ",
    ],
)
def test_email_fast_path_agrees_with_the_validator(raw: str) -> None:
    try:
        expected: str | None = normalise_email(raw)
    except InvalidInput:
        expected = None
    try:
        got: str | None = fast_normalise_email(raw)
    except InvalidInput:
        got = None
    assert got == expected


def test_export_reimports_the_same_data(manager: Staff, lead: Staff) -> None:
    assert run(manager, GOOD).created == 3
    exported = "".join(export_customers(actor=lead, filters=CustomerFilters()))
    before = sorted((services.snapshot(c) for c in Customer.objects.all()), key=repr)
    Customer.objects.all().delete()
    report = run(manager, exported)
    assert report.errors == [] and report.created == 3
    after = sorted((services.snapshot(c) for c in Customer.objects.all()), key=repr)
    assert before == after
    only_gold = "".join(export_customers(actor=lead, filters=CustomerFilters(tag="gold")))
    assert only_gold.count("\r\n") == 3  # header and two customers (one note holds a newline)


def test_agent_may_not_import_or_export(agent_api: ApiClient, agent: Staff) -> None:
    r = agent_api.client.post("/api/v1/customers/import", GOOD, content_type="text/csv", headers=agent_api.headers)
    assert r.status_code == 403
    r = agent_api.get("/customers/export")
    assert r.status_code == 403
    with pytest.raises(PermissionDenied):
        run(agent, GOOD)


def _post_csv(api: ApiClient, text: str, dry_run: bool) -> Any:
    return api.client.post(
        f"/api/v1/customers/import?dry_run={'true' if dry_run else 'false'}",
        text,
        content_type="text/csv",
        headers=api.headers,
    )


def test_api_import_and_422_shape(manager: Staff, lead_api: ApiClient) -> None:
    api = api_for(manager)
    r = _post_csv(api, GOOD, dry_run=True)
    assert r.status_code == 200 and r.json() == {"dry_run": True, "rows": 3, "created": 0, "errors": []}
    r = _post_csv(api, GOOD, dry_run=False)
    assert r.status_code == 201 and r.json()["created"] == 3
    r = _post_csv(api, "name,emails\nA,bad\n,\n", dry_run=False)
    assert r.status_code == 422 and r["Content-Type"] == "application/problem+json"
    assert [(e["line"], e["field"]) for e in r.json()["errors"]] == [(2, "emails"), (3, "name")]
    assert all(set(e) == {"line", "field", "message"} for e in r.json()["errors"])
    r = lead_api.get("/customers/export", status="active")
    assert r.status_code == 200 and r["Content-Disposition"].startswith("attachment")
    body = b"".join(r.streaming_content).decode()
    assert body.splitlines()[0].startswith("name,kind,status") and "Jane Smith" in body and "Acme" not in body


def test_job_runs_once_and_reports_progress(manager: Staff, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = imports.start_import(actor=manager, upload=io.BytesIO(GOOD.encode()), dry_run=True, name="c.csv")
    assert len(callbacks) == 1 and default_storage.exists(job.file)
    run_import.call(job.id)
    job.refresh_from_db()
    assert (job.status, job.rows_total, job.rows_done, job.error_count) == (ImportStatus.DONE, 3, 3, 0)
    assert Customer.objects.count() == 0
    run_import.call(job.id)  # already done: left alone
    real = imports.confirm_import(actor=manager, job_id=job.id)
    run_import.call(real.id)
    real.refresh_from_db()
    assert real.status == ImportStatus.DONE and real.created == 3 and Customer.objects.count() == 3
    with pytest.raises(Conflict):
        imports.confirm_import(actor=manager, job_id=job.id)
    bad = imports.start_import(actor=manager, upload=io.BytesIO(b"name,notes\n\n,x\n"), dry_run=False)
    run_import.call(bad.id)
    bad.refresh_from_db()
    assert bad.status == ImportStatus.INVALID and bad.errors == [
        {"line": 3, "field": "name", "message": "A name is required."}
    ]
    assert ImportJob.objects.count() == 3


IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


def test_pages_upload_dry_run_confirm_and_export(
    client: Any, manager: Staff, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = IMMEDIATE
    client.force_login(manager)
    page = client.get("/customers/import/")
    assert page.status_code == 200 and b'name="dry_run"' in page.content and b"checked" in page.content
    upload = io.BytesIO(GOOD.encode())
    upload.name = "people.csv"
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/customers/import/", {"file": upload, "dry_run": "on"})
    assert r.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.DONE and job.rows_done == 3
    page = client.get(r["Location"])
    assert b"Import for real" in page.content and b"every 1s" not in page.content
    fragment = client.get(r["Location"], headers={"HX-Request": "true"})
    assert b"<html" not in fragment.content and b"All 3 rows are fine" in fragment.content
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/customers/import/{job.id}/confirm/")
    assert r.status_code == 302 and Customer.objects.count() == 3
    assert b"Imported 3 customers" in client.get(r["Location"]).content
    export = client.get("/customers/export.csv", {"tag": "vip"})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    assert b"".join(export.streaming_content).decode().count("Jane Smith") == 1


def test_job_page_polls_while_running_and_lists_errors(client: Any, manager: Staff) -> None:
    client.force_login(manager)
    running = ImportJob.objects.create(file="x.csv", status=ImportStatus.VALIDATING, rows_total=10_000, rows_done=5_000)
    page = client.get(f"/customers/import/{running.id}/")
    assert (
        b'hx-trigger="every 1s"' in page.content
        and b'<progress id="import-progress" max="10000" value="5000"' in page.content
    )
    bad = ImportJob.objects.create(
        file="y.csv",
        status=ImportStatus.INVALID,
        error_count=1,
        errors=[{"line": 7, "field": "emails", "message": "<b>bad</b>"}],
    )
    page = client.get(f"/customers/import/{bad.id}/")
    assert b"<td>7</td><td>emails</td><td>&lt;b&gt;bad&lt;/b&gt;</td>" in page.content
    assert b"Import for real" not in page.content


def test_agent_sees_no_import_form(client: Any, agent: Staff) -> None:
    client.force_login(agent)
    page = client.get("/customers/import/")
    assert page.status_code == 200 and b'type="file"' not in page.content
    assert client.get("/customers/export.csv").status_code == 403


def test_phone_fast_path_agrees_with_the_validator(db: Any) -> None:
    """The memo by number prefix must give exactly what normalise_phone gives, number by number."""
    import random

    from rapport.customers.imports import _Phones
    from rapport.customers.validation import normalise_phone

    rng = random.Random(5)
    samples = ["020 7946 0018", "07911 123456", "+44 1624 123456", "+44 7781 123456", "01481 123456"]
    prefixes = ["07", "020", "0121", "01", "03", "08", "09", "+44", "+1", "+33 6", "+49", "+353 8", "+39 3"]
    prefixes += ["+61 4", "+81", "+52 1", "+54 9", "+44 1481", "+44 1534", "+44 7624", "+7", "+86 1", "+91 9"]
    for _ in range(3000):
        samples.append(rng.choice(prefixes) + "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 11))))
    fast = _Phones()
    for raw in samples:
        try:
            expected: str | None = normalise_phone(raw)
        except InvalidInput:
            expected = None
        try:
            got: str | None = fast(raw)
        except InvalidInput:
            got = None
        assert got == expected, raw
    assert len(fast.by_head) > 100  # the memo was really used


def test_bulk_rows_keep_their_foreign_keys_when_the_triggers_are_skipped(manager: Staff) -> None:
    """On PostgreSQL the import checks parents as a set instead of a trigger per row: the import
    still links managers and tags, a vanished parent stops it, and the checks come back after."""
    from django.db import IntegrityError, connection, transaction

    report = run(manager, GOOD + "Ann Lee,,,,,mo,,vip,,\n")
    assert report.ok and report.created == 4
    ann = Customer.objects.get(name="Ann Lee")
    assert ann.account_manager == manager and [t.name for t in ann.tags.all()] == ["vip"]
    if connection.vendor != "postgresql":
        assert imports.skip_row_checks() is False
        return
    with pytest.raises(Conflict, match="removed meanwhile"), transaction.atomic():
        assert imports.skip_row_checks() is True
        imports.lock_parents({Staff: [manager.id, 10**9]})
    with transaction.atomic():
        assert imports.skip_row_checks() and imports.lock_parents({Staff: [manager.id]})
        imports.restore_row_checks()
        NameKey.objects.create(customer_id=10**9, key="ghost")
        with pytest.raises(IntegrityError):
            connection.check_constraints()  # the deferred trigger for the row above is back
        transaction.set_rollback(True)


def _many(count: int, start: int = 0) -> str:
    return HEADER + "".join(
        f"Person {i},,,p{i}@example.com,,{'mo' if i % 3 == 0 else ''},X-{i},{'vip' if i % 2 else ''},,a\\b\tc\n"
        for i in range(start, start + count)
    )


def test_a_file_written_chunk_by_chunk_is_whole(manager: Staff, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks, so validating and writing take turns many times (on PostgreSQL the
    writing happens in a second thread)."""
    monkeypatch.setattr(validating, "WRITE_CHUNK", 3)
    seen: list[int] = []
    report = import_customers(
        actor=manager,
        source=io.BytesIO(_many(20).encode()),
        dry_run=False,
        progress=lambda done, total: seen.append(done),
    )
    assert report.ok and report.created == 20 and seen[-1] == 20
    assert Customer.objects.count() == 20 and ContactPoint.objects.count() == 20
    person = Customer.objects.get(external_id="X-9")
    assert person.account_manager == manager and person.notes == "a\\b\tc" and person.tags.get().name == "vip"
    assert sorted(NameKey.objects.filter(customer=person).values_list("key", flat=True)) == ["9", "person"]
    ids = sorted(Customer.objects.values_list("id", flat=True))
    assert [list(r) for r in report.id_ranges] == [[ids[0], ids[-1]]] and ids[-1] - ids[0] == 19


@pytest.mark.parametrize(
    ("late_row", "field"),
    [
        ("Late,,,p2@example.com,,,,,,\n", "emails"),  # the same email as line 4, already written
        ("Late,,,late@example.com,,nobody,,,,\n", "account_manager"),
        ("Late,,,taken@example.com,,,,,,\n", "emails"),  # taken by a customer in the database
        (",,,late@example.com,,,,,,\n", "name"),
    ],
)
def test_a_bad_row_after_written_chunks_undoes_them(
    manager: Staff, monkeypatch: pytest.MonkeyPatch, late_row: str, field: str
) -> None:
    monkeypatch.setattr(validating, "WRITE_CHUNK", 3)
    services.create_customer(actor=None, data=services.CustomerInput(name="Old", emails=["taken@example.com"]))
    report = run(manager, _many(12) + late_row)
    assert (14, field) in lines_of(report) and report.created == 0 and report.id_ranges == []
    assert list(Customer.objects.values_list("name", flat=True)) == ["Old"]
    assert not AuditEntry.objects.filter(action="customer.imported").exists()


def test_a_value_taken_meanwhile_is_a_conflict_and_nothing_is_imported(
    manager: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer takes an email between the check and the write: the database's unique
    constraint stops the write (in the writer thread on PostgreSQL) and nothing stays."""
    monkeypatch.setattr(validating, "WRITE_CHUNK", 3)
    services.create_customer(actor=None, data=services.CustomerInput(name="Old", emails=["p7@example.com"]))
    monkeypatch.setattr(imports._Validator, "unique", lambda self, line, emails, external: None)
    monkeypatch.setattr(checks, "_taken", lambda *args, **kwargs: iter(()))
    with pytest.raises(Conflict):
        run(manager, _many(12))
    assert list(Customer.objects.values_list("name", flat=True)) == ["Old"]
