"""The staff pages for customers, through the real HTTP stack and database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.core.models import AuditEntry
from rapport.customers import services
from rapport.customers.models import ContactPoint, Customer, Interaction
from rapport.customers.services import CustomerInput
from rapport.people.models import Staff

pytestmark = pytest.mark.django_db


def make_customer(name: str, *, manager: Staff | None = None, **fields: Any) -> Customer:
    data = CustomerInput(name=name, account_manager=manager.username if manager else None, **fields)
    return services.create_customer(actor=None, data=data)


def log(customer: Customer, summary: str, *, staff: Staff | None = None, minutes_ago: int = 0) -> Interaction:
    return services.log_interaction(
        actor=staff,
        customer_id=customer.id,
        channel="phone",
        direction="in",
        summary=summary,
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def signed_in(staff: Staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def htmx(client: Client, path: str, **data: Any) -> Any:
    return client.get(path, data, headers={"HX-Request": "true"})


def queries_for(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# --- access ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/customers/", "/customers/new/", "/search?q=a"])
def test_pages_need_sign_in(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_sign_in_and_out(client: Client, agent: Staff) -> None:
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'<label for="id_username">Username</label>' in page.content
    response = client.post("/login/", {"username": "alice", "password": "correct-horse-battery-staple"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/logout/").status_code == 405  # sign-out is a POST
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_repeated_wrong_passwords_lock_out(client: Client, agent: Staff) -> None:
    for _ in range(5):
        response = client.post("/login/", {"username": "alice", "password": "wrong-password-here"})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content


def test_unknown_customer_is_a_friendly_404(agent: Staff) -> None:
    response = signed_in(agent).get("/customers/999999/")
    assert response.status_code == 404
    assert b"Not found" in response.content and b"Rapport" in response.content


# --- home --------------------------------------------------------------------------------


def test_home_lists_my_customers_and_recent_activity(agent: Staff, lead: Staff) -> None:
    mine = make_customer("Mina Harker", manager=agent, emails=["mina@example.com", "m.harker@example.com"])
    quiet = make_customer("Arthur Holmwood", manager=agent)
    theirs = make_customer("Lucy Westenra", manager=lead)
    log(theirs, "Asked about the renewal date", staff=lead)
    response = signed_in(agent).get("/")
    body = response.content.decode()
    mine_section = body.split('id="mine-title"')[1].split("</section>")[0]
    assert mine.name in mine_section and theirs.name not in mine_section
    assert mine_section.index(quiet.name) < mine_section.index(mine.name)  # by name
    assert f"{mine.reference} · mina@example.com<" in mine_section  # the primary point only
    assert f"{quiet.reference}</span>" in mine_section  # no point: nothing after the reference
    assert "Asked about the renewal date" in body


def _populate(agent: Staff, count: int, *, start: int = 0) -> list[Customer]:
    customers = []
    for i in range(start, start + count):
        c = make_customer(
            f"Customer {i}", manager=agent, emails=[f"c{i}@example.com"], phones=[f"020 7946 0{i:03d}"], tags=["vip"]
        )
        log(c, f"Call number {i}", staff=agent)
        customers.append(c)
    return customers


@pytest.mark.parametrize("path", ["/", "/customers/", "/customers/?tag=vip", "/search?q=customer"])
def test_list_pages_query_count_does_not_grow_with_rows(
    agent: Staff, path: str, django_assert_max_num_queries: Any
) -> None:
    client = signed_in(agent)
    _populate(agent, 3)
    few = queries_for(client, path)
    _populate(agent, 27, start=3)
    with django_assert_max_num_queries(few):
        response = client.get(path)
    assert response.status_code == 200
    assert few <= 15


def test_customer_360_query_count_does_not_grow_with_timeline(lead: Staff, django_assert_max_num_queries: Any) -> None:
    client = signed_in(lead)
    customer = make_customer("Query Count", manager=lead, emails=["qc@example.com"], tags=["a", "b"])
    for i in range(3):
        log(customer, f"Contact {i}", staff=lead)
    few = queries_for(client, f"/customers/{customer.id}/")
    for i in range(30):
        log(customer, f"More {i}", staff=lead)
        services.update_customer(actor=lead, customer_id=customer.id, data=CustomerInput(notes=f"note {i}"))
    with django_assert_max_num_queries(few):
        client.get(f"/customers/{customer.id}/")
    assert few <= 15


def test_timeline_fragment_query_count_is_flat(agent: Staff, django_assert_max_num_queries: Any) -> None:
    customer = make_customer("Fragment Count")
    for i in range(25):
        log(customer, f"Early {i}", staff=agent, minutes_ago=100 + i)
    client = signed_in(agent)
    first = client.get(f"/customers/{customer.id}/").content.decode()
    cursor_url = re.search(r'hx-get="(/customers/\d+/\?cursor=[^"]+)"', first).group(1)  # type: ignore[union-attr]
    with CaptureQueriesContext(connection) as few:
        htmx(client, cursor_url)
    for i in range(40):
        log(customer, f"Later {i}", staff=agent, minutes_ago=200 + i)
    with django_assert_max_num_queries(len(few)):
        assert "Early 20" in htmx(client, cursor_url).content.decode()


# --- search ------------------------------------------------------------------------------


def test_search_page_finds_customers_and_contacts(agent: Staff) -> None:
    customer = make_customer("Jonathan Harker", emails=["jon@harker.example"], phones=["020 7946 0123"])
    other = make_customer("Quincey Morris")
    log(other, "Harker mentioned a castle in the letter")
    client = signed_in(agent)
    response = client.get("/search", {"q": "hark"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body
    assert customer.name in body and "castle" in body
    assert customer.name in client.get("/search", {"q": "jon@harker"}).content.decode()
    assert customer.name in client.get("/search", {"q": "020 7946 0123"}).content.decode()
    assert customer.name in client.get("/search", {"q": customer.reference}).content.decode()


def test_live_search_answers_with_a_fragment(agent: Staff) -> None:
    make_customer("Arthur Holmwood")
    response = htmx(signed_in(agent), "/search", q="arth")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and "Arthur Holmwood" in body


def test_every_page_has_the_header_search(agent: Staff) -> None:
    body = signed_in(agent).get("/customers/").content.decode()
    assert 'role="search"' in body and 'hx-trigger="input changed delay:200ms, search"' in body
    assert '<label for="site-search"' in body


# --- list --------------------------------------------------------------------------------


def test_customer_list_filters_and_pages(agent: Staff, lead: Staff) -> None:
    for i in range(55):
        make_customer(f"Person {i:02d}", manager=agent if i % 2 else lead, status="active" if i < 50 else "former")
    make_customer("Tagged One", tags=["gold"])
    client = signed_in(agent)
    first = client.get("/customers/")
    body = first.content.decode()
    assert body.count("<tr>") == 51  # header row + a page of 50
    cursor = re.search(r'href="/customers/\?cursor=([^"]+)"', body)
    assert cursor
    second = client.get("/customers/", {"cursor": cursor.group(1)}).content.decode()
    assert "Tagged One" in second and "Next page" not in second
    former = client.get("/customers/", {"status": "former"}).content.decode()
    assert former.count("<tr>") == 6
    gold = client.get("/customers/", {"tag": "gold"}).content.decode()
    assert "Tagged One" in gold and "Person 01" not in gold
    managed = client.get("/customers/", {"account_manager": "alice"}).content.decode()
    assert "Person 01" in managed and "Person 02" not in managed
    named = client.get("/customers/", {"q": "person 07"}).content.decode()
    assert "Person 07" in named and "Person 08" not in named


def test_customer_list_htmx_fragment_and_bad_filter(agent: Staff) -> None:
    make_customer("Renfield")
    client = signed_in(agent)
    fragment = htmx(client, "/customers/", q="renf").content.decode()
    assert "<html" not in fragment and "Renfield" in fragment
    assert client.get("/customers/", {"status": "nonsense"}).status_code == 400


# --- customer 360 ------------------------------------------------------------------------


def test_customer_360_shows_the_whole_customer(agent: Staff) -> None:
    customer = make_customer(
        "Abraham Van Helsing",
        manager=agent,
        emails=["prof@vh.example", "second@vh.example"],
        phones=["020 7946 0999"],
        tags=["expert", "vip"],
        consent={"email": True, "marketing": False},
        preferred_channel="letter",
        language="nl",
        timezone="Europe/Amsterdam",
        notes="Prefers mornings.",
    )
    ContactPoint.objects.filter(value="second@vh.example").update(bouncing=True)
    log(customer, "Discussed garlic supplies", staff=agent)
    body = signed_in(agent).get(f"/customers/{customer.id}/").content.decode()
    for text in (
        customer.reference,
        "Abraham Van Helsing",
        "badge--prospect",
        "Person",
        "prof@vh.example",
        "+442079460999",
        "Letter",
        "nl",
        "Europe/Amsterdam",
        "expert",
        "Prefers mornings.",
        "Discussed garlic supplies",
        "Log a contact",
        "bouncing",
    ):
        assert text in body, text
    assert body.index("prof@vh.example") < body.index("second@vh.example")
    assert "Audit trail" not in body  # agents do not see it
    assert "Merge a duplicate" not in body


def test_audit_trail_for_leads(lead: Staff) -> None:
    customer = make_customer("Audit Me", status="prospect")
    services.update_customer(actor=lead, customer_id=customer.id, data=CustomerInput(status="active"))
    body = signed_in(lead).get(f"/customers/{customer.id}/").content.decode()
    assert "Audit trail" in body and "customer.updated" in body
    assert re.search(r'changes__before">prospect</span> → <span class="changes__after">active', body)
    assert "Merge a duplicate" in body


def test_timeline_loads_more_as_you_scroll(agent: Staff) -> None:
    customer = make_customer("Long History")
    for i in range(25):
        log(customer, f"Contact number {i:02d}", minutes_ago=i)
    client = signed_in(agent)
    body = client.get(f"/customers/{customer.id}/").content.decode()
    assert "Contact number 00" in body and "Contact number 19" in body and "Contact number 20" not in body
    sentinel = re.search(r'hx-get="(/customers/\d+/\?cursor=[^"]+)" hx-trigger="revealed"', body)
    assert sentinel
    more = htmx(client, sentinel.group(1).replace("&amp;", "&")).content.decode()
    assert "<html" not in more and "Contact number 20" in more and "Contact number 24" in more
    assert "Contact number 19" not in more and 'hx-trigger="revealed"' not in more
    # Without JavaScript the same link is a full page.
    assert "Contact number 20" in client.get(sentinel.group(1).replace("&amp;", "&")).content.decode()


def test_log_a_contact_without_javascript(agent: Staff) -> None:
    agent.timezone = "Europe/Paris"
    agent.save()
    customer = make_customer("Mr Swales")
    client = signed_in(agent)
    form = client.get(f"/customers/{customer.id}/").content.decode()
    now_paris = timezone.localtime(timezone.now(), timezone=__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert now_paris.strftime("%Y-%m-%dT%H") in form  # "when" defaults to now, in the viewer's zone
    response = client.post(
        f"/customers/{customer.id}/log/",
        {
            "channel": "phone",
            "direction": "out",
            "occurred_at": "2026-01-10T10:00",
            "duration_minutes": "7",
            "summary": "Called back about the invoice",
            "notes": "Will pay Friday",
        },
    )
    assert response.status_code == 302 and response["Location"] == f"/customers/{customer.id}/"
    entry = Interaction.objects.get(customer=customer)
    assert entry.occurred_at == datetime(2026, 1, 10, 9, 0, tzinfo=UTC)  # typed in Paris time, stored UTC
    assert entry.duration_seconds == 420 and entry.staff == agent and entry.body == "Will pay Friday"
    page = client.get(f"/customers/{customer.id}/").content.decode()
    assert "Called back about the invoice" in page and "10 Jan 2026, 10:00" in page and "7 min" in page


def test_log_a_contact_with_htmx_prepends_the_entry(agent: Staff) -> None:
    customer = make_customer("Htmx Person")
    response = signed_in(agent).post(
        f"/customers/{customer.id}/log/",
        {
            "channel": "email",
            "direction": "in",
            "occurred_at": timezone.now().strftime("%Y-%m-%dT%H:%M"),
            "summary": "Sent a photo",
        },
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<li class="timeline__entry"') and "Sent a photo" in body
    assert 'id="log-form"' in body and 'hx-swap-oob="true"' in body  # a fresh, empty form
    assert Interaction.objects.filter(customer=customer, summary="Sent a photo").exists()


def test_log_errors_show_on_the_form(agent: Staff) -> None:
    customer = make_customer("Error Person")
    client = signed_in(agent)
    future = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    data = {"channel": "phone", "direction": "in", "occurred_at": future, "summary": "From the future"}
    response = client.post(f"/customers/{customer.id}/log/", data, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#log-form" and response["HX-Reswap"] == "outerHTML"
    assert "cannot be logged in the future" in response.content.decode()
    plain = client.post(f"/customers/{customer.id}/log/", {**data, "summary": ""})
    assert plain.status_code == 400 and b"This field is required" in plain.content
    assert not Interaction.objects.filter(customer=customer).exists()


def test_forms_enforce_csrf(agent: Staff) -> None:
    customer = make_customer("Csrf Person")
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    data = {"channel": "phone", "direction": "in", "occurred_at": "2026-01-10T10:00", "summary": "No token"}
    assert client.post(f"/customers/{customer.id}/log/", data).status_code == 403
    client.get(f"/customers/{customer.id}/")
    token = client.cookies["csrftoken"].value
    ok = client.post(f"/customers/{customer.id}/log/", {**data, "summary": "With token", "csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    # htmx sends the token as a header (hx-headers on <body>).
    body = client.get("/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in body
    header = client.post(
        f"/customers/{customer.id}/log/",
        {**data, "summary": "Header"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert header.status_code == 200


def test_merged_customer_points_to_the_survivor(lead: Staff) -> None:
    survivor = make_customer("Keep Me")
    duplicate = make_customer("Keep Me Too")
    services.merge_customers(actor=lead, survivor_id=survivor.id, duplicate_id=duplicate.id)
    body = signed_in(lead).get(f"/customers/{duplicate.id}/").content.decode()
    assert "was merged into" in body and f'href="/customers/{survivor.id}/"' in body
    assert "Log a contact" not in body


# --- create and edit ---------------------------------------------------------------------


def test_create_customer_with_the_form(agent: Staff) -> None:
    client = signed_in(agent)
    page = client.get("/customers/new/").content.decode()
    assert 'for="id_emails"' in page and 'name="consent_marketing"' in page
    response = client.post(
        "/customers/new/",
        {
            "name": "Renée Dupont",
            "kind": "person",
            "status": "active",
            "emails": "Renee@Example.com\nr.dupont@example.com",
            "phones": "020 7946 0555",
            "account_manager": "alice",
            "preferred_channel": "email",
            "language": "fr",
            "timezone": "Europe/Paris",
            "tags": "VIP, french",
            "consent_email": "on",
            "notes": "Met at the fair",
        },
    )
    customer = Customer.objects.get(name="Renée Dupont")
    assert response.status_code == 302 and response["Location"] == f"/customers/{customer.id}/"
    assert [p.value for p in customer.contact_points.filter(kind="email")] == [
        "renee@example.com",
        "r.dupont@example.com",
    ]
    assert customer.account_manager == agent and customer.consent == {
        "email": True,
        "phone": False,
        "post": False,
        "marketing": False,
    }
    assert sorted(t.name for t in customer.tags.all()) == ["french", "vip"]
    assert AuditEntry.objects.filter(subject_id=customer.id, action="customer.created", actor=agent).exists()


def test_create_shows_field_errors(agent: Staff) -> None:
    response = signed_in(agent).post(
        "/customers/new/",
        {
            "name": "Bad Data",
            "kind": "person",
            "status": "active",
            "emails": "not-an-email",
            "phones": "12",
            "language": "english!",
            "timezone": "UTC",
        },
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "not a valid email address" in body
    assert "not a phone number" in body or "not a valid phone number" in body
    assert "not a language code" in body
    assert not Customer.objects.filter(name="Bad Data").exists()


def test_create_conflict_links_to_the_owner(agent: Staff) -> None:
    owner = make_customer("Email Owner", emails=["taken@example.com"])
    response = signed_in(agent).post(
        "/customers/new/",
        {
            "name": "Newcomer",
            "kind": "person",
            "status": "prospect",
            "emails": "taken@example.com",
            "language": "en",
            "timezone": "UTC",
        },
    )
    body = response.content.decode()
    assert response.status_code == 409
    assert re.search(
        rf'taken@example.com belongs to <a href="/customers/{owner.id}/">Email Owner \({owner.reference}\)</a>', body
    )


def test_edit_keeps_a_departed_account_manager_visible(agent: Staff, lead: Staff) -> None:
    customer = make_customer("Orphan", manager=lead)
    lead.is_active = False
    lead.save()
    page = signed_in(agent).get(f"/customers/{customer.id}/edit/").content.decode()
    assert re.search(r'<option value="lena" selected>lena \(no longer active\)</option>', page)


def test_edit_customer(agent: Staff) -> None:
    customer = make_customer("Edit Me", emails=["edit@example.com"], tags=["old"])
    client = signed_in(agent)
    page = client.get(f"/customers/{customer.id}/edit/").content.decode()
    assert "edit@example.com" in page and 'value="old"' in page
    data = {
        "name": "Edited",
        "kind": "organisation",
        "status": "active",
        "emails": "edit@example.com\nnew@example.com",
        "language": "en",
        "timezone": "UTC",
        "tags": "new",
        "consent_post": "on",
        "version": customer.version,
    }
    response = client.post(f"/customers/{customer.id}/edit/", data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Edited" and customer.kind == "organisation" and customer.consent_post
    # A second save from the same (now stale) page is refused, not silently applied.
    stale = client.post(f"/customers/{customer.id}/edit/", {**data, "name": "Stale"})
    assert stale.status_code == 400 and b"changed since you read it" in stale.content


# --- merge -------------------------------------------------------------------------------


def test_agents_cannot_merge(agent: Staff) -> None:
    customer = make_customer("No Merge")
    response = signed_in(agent).get(f"/customers/{customer.id}/merge/")
    assert response.status_code == 403 and b"Not allowed" in response.content
    assert signed_in(agent).post(f"/customers/{customer.id}/merge/", {"duplicate": customer.id}).status_code == 403


def test_lead_merges_a_duplicate(lead: Staff) -> None:
    survivor = make_customer("Dracula", emails=["count@castle.example"])
    duplicate = make_customer("Count Dracula", phones=["020 7946 0777"])
    log(duplicate, "Ordered fifty boxes of earth")
    client = signed_in(lead)
    found = client.get(f"/customers/{survivor.id}/merge/", {"q": "dracula"}).content.decode()
    assert f"?duplicate={duplicate.id}" in found and f"?duplicate={survivor.id}" not in found
    confirm = client.get(f"/customers/{survivor.id}/merge/", {"duplicate": duplicate.id}).content.decode()
    assert "Count Dracula" in confirm and "count@castle.example" in confirm and "+442079460777" in confirm
    response = client.post(f"/customers/{survivor.id}/merge/", {"duplicate": duplicate.id})
    assert response.status_code == 302 and response["Location"] == f"/customers/{survivor.id}/"
    page = client.get(response["Location"]).content.decode()
    assert "Ordered fifty boxes of earth" in page and "+442079460777" in page and "Merged" in page
    again = client.post(f"/customers/{survivor.id}/merge/", {"duplicate": duplicate.id}, follow=True).content.decode()
    assert "already merged" in again


# --- the stylesheet at 360 px ------------------------------------------------------------


def test_css_has_no_fixed_width_wider_than_a_phone() -> None:
    css = (Path(__file__).parents[2] / "src/rapport/static/rapport.css").read_text()
    css = re.sub(r"@media[^{]*\{", "{", css)  # media conditions are not widths
    for prop, number, unit in re.findall(r"(?<![-\w])((?:min-)?width)\s*:\s*([\d.]+)(px|rem|em)", css):
        px = float(number) * (16 if unit in {"rem", "em"} else 1)
        assert px <= 360, f"{prop}: {number}{unit} is wider than a 360 px screen"
    assert 'name="viewport"' in (Path(__file__).parents[2] / "src/rapport/templates/base.html").read_text()
