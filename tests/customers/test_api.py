"""Customers API through the real HTTP stack: behaviour, bad input, conflicts, pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rapport.core.models import AuditEntry, IdempotencyRecord
from rapport.customers.models import ContactPoint, Customer, Interaction
from rapport.people.models import Staff
from tests.conftest import ApiClient, api_for

pytestmark = pytest.mark.django_db

JANE = {"name": "Jane Smith", "emails": ["jane@example.com"], "phones": ["+44 20 7946 0018"], "status": "active"}


def create(api: ApiClient, **fields: object) -> dict:
    response = api.post("/customers", {**JANE, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def test_requests_without_a_valid_token_are_refused() -> None:
    for api in (ApiClient(None), ApiClient("rpt_not-a-real-token")):
        response = api.get("/customers")
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_inactive_staff_tokens_stop_working(agent: Staff) -> None:
    api = api_for(agent)
    assert api.get("/customers").status_code == 200
    Staff.objects.filter(id=agent.id).update(is_active=False)
    assert api.get("/customers").status_code == 401


def test_create_returns_all_fields_normalised(agent_api: ApiClient, agent: Staff) -> None:
    body = create(
        agent_api,
        emails=["  Jane@Example.COM ", "jane.work@example.org"],
        phones=["020 7946 0018"],
        timezone="Europe/London",
        tags=["VIP", "vip", "Wholesale"],
        consent={"email": True, "marketing": False},
        account_manager="alice",
        kind="person",
        language="en-GB",
    )
    assert body["reference"] == f"CU-{body['id']:06d}"
    assert body["emails"] == ["jane@example.com", "jane.work@example.org"]
    assert body["phones"] == ["+442079460018"]
    assert body["tags"] == ["vip", "wholesale"]
    assert body["consent"] == {"email": True, "phone": False, "post": False, "marketing": False}
    assert body["account_manager"] == "alice"
    assert body["language"] == "en-GB"
    assert body["status"] == "active"
    assert AuditEntry.objects.filter(subject_type="customer", subject_id=body["id"], action="customer.created").exists()


def test_bad_input_names_each_field_and_saves_nothing(agent_api: ApiClient) -> None:
    response = agent_api.post(
        "/customers",
        {
            "name": "  ",
            "emails": ["not-an-email"],
            "phones": ["12"],
            "timezone": "Mars/Olympus",
            "status": "vip",
            "language": "english language",
            "account_manager": "nobody",
            "consent": {"fax": True},
        },
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert set(problem["errors"]) == {
        "name",
        "emails",
        "phones",
        "timezone",
        "status",
        "language",
        "account_manager",
        "consent",
    }
    assert Customer.objects.count() == 0


def test_schema_errors_are_problem_documents_with_fields(agent_api: ApiClient) -> None:
    response = agent_api.post("/customers", {"emails": "jane@example.com"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert "name" in errors and "emails" in errors


def test_duplicate_email_is_a_conflict_naming_the_owner(agent_api: ApiClient) -> None:
    first = create(agent_api)
    response = agent_api.post("/customers", {"name": "Someone Else", "emails": ["JANE@example.com"]})
    assert response.status_code == 409
    problem = response.json()
    assert problem["existing_customer"]["id"] == first["id"]
    assert first["reference"] in problem["detail"]
    assert Customer.objects.count() == 1


def test_idempotency_key_replays_the_first_response(agent_api: ApiClient) -> None:
    headers = {"Idempotency-Key": "create-jane-1"}
    first = agent_api.post("/customers", JANE, headers)
    again = agent_api.post("/customers", JANE, headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1

    other_body = agent_api.post("/customers", {**JANE, "name": "Jane Smyth"}, headers)
    assert other_body.status_code == 422
    assert "Idempotency-Key" in other_body.json()["errors"]
    assert Customer.objects.count() == 1


def test_idempotency_keys_belong_to_their_caller(agent_api: ApiClient, lead_api: ApiClient) -> None:
    headers = {"Idempotency-Key": "same-key"}
    assert agent_api.post("/customers", JANE, headers).status_code == 201
    # Another person using the same key is a different request, and meets the email conflict.
    assert lead_api.post("/customers", JANE, headers).status_code == 409


def test_a_failed_create_does_not_burn_the_key(agent_api: ApiClient) -> None:
    headers = {"Idempotency-Key": "retry-after-fix"}
    assert agent_api.post("/customers", {**JANE, "timezone": "Nowhere"}, headers).status_code == 422
    assert IdempotencyRecord.objects.count() == 0
    assert agent_api.post("/customers", JANE, headers).status_code == 201


def test_patch_with_if_match_refuses_stale_writes(agent_api: ApiClient) -> None:
    customer = create(agent_api)
    read = agent_api.get(f"/customers/{customer['id']}")
    etag = read["ETag"]
    ok = agent_api.patch(f"/customers/{customer['id']}", {"status": "former"}, {"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["status"] == "former"
    assert ok["ETag"] != etag
    stale = agent_api.patch(f"/customers/{customer['id']}", {"name": "Jane Stale"}, {"If-Match": etag})
    assert stale.status_code == 412
    assert Customer.objects.get(id=customer["id"]).name == "Jane Smith"


def test_patch_changes_only_given_fields_and_audits_before_after(agent_api: ApiClient, agent: Staff) -> None:
    customer = create(agent_api, tags=["vip"], account_manager="alice")
    response = agent_api.patch(
        f"/customers/{customer['id']}",
        {"phones": ["+1 212 555 0100"], "account_manager": None, "consent": {"post": True}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["phones"] == ["+12125550100"]
    assert body["emails"] == ["jane@example.com"]
    assert body["tags"] == ["vip"]
    assert body["account_manager"] is None
    assert body["consent"]["post"] is True
    entry = AuditEntry.objects.filter(subject_id=customer["id"], action="customer.updated").get()
    assert entry.actor_id == agent.id
    assert entry.changes["phones"] == [["+442079460018"], ["+12125550100"]]
    assert entry.changes["account_manager"] == ["alice", None]
    assert "name" not in entry.changes


def test_patch_to_an_email_of_another_customer_conflicts(agent_api: ApiClient) -> None:
    create(agent_api)
    other = create(agent_api, name="Bob Jones", emails=["bob@example.com"], phones=[])
    response = agent_api.patch(f"/customers/{other['id']}", {"emails": ["jane@example.com"]})
    assert response.status_code == 409
    assert list(ContactPoint.objects.filter(customer_id=other["id"]).values_list("value", flat=True)) == [
        "bob@example.com"
    ]


def test_unknown_customer_is_a_problem_404(agent_api: ApiClient) -> None:
    response = agent_api.get("/customers/999999")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_list_filters_and_cursor_pages(agent_api: ApiClient, agent: Staff) -> None:
    ids = [
        create(agent_api, name=f"Customer {n}", emails=[f"c{n}@example.com"], phones=[], status=status, tags=tags)["id"]
        for n, (status, tags) in enumerate(
            [("active", ["vip"]), ("former", []), ("prospect", ["vip"]), ("active", []), ("active", ["vip"])]
        )
    ]
    agent_api.patch(f"/customers/{ids[0]}", {"account_manager": "alice"})
    seen: list[int] = []
    cursor = None
    while True:
        page = agent_api.get("/customers", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert [c["id"] for c in agent_api.get("/customers", status="active").json()["items"]] == [ids[0], ids[3], ids[4]]
    assert [c["id"] for c in agent_api.get("/customers", tag="VIP").json()["items"]] == [ids[0], ids[2], ids[4]]
    assert [c["id"] for c in agent_api.get("/customers", account_manager="alice").json()["items"]] == [ids[0]]
    assert agent_api.get("/customers", limit=0).status_code == 422
    assert agent_api.get("/customers", cursor="garbage!").status_code == 422
    assert agent_api.get("/customers", status="vip").status_code == 422


def test_external_id_lookup_and_uniqueness(agent_api: ApiClient) -> None:
    customer = create(agent_api, external_id="ERP-1")
    assert [c["id"] for c in agent_api.get("/customers", external_id="ERP-1").json()["items"]] == [customer["id"]]
    response = agent_api.post("/customers", {"name": "Other", "external_id": "ERP-1"})
    assert response.status_code == 409
    assert response.json()["field"] == "external_id"


def test_interactions_land_on_the_timeline_newest_first(agent_api: ApiClient) -> None:
    customer = create(agent_api)
    now = datetime.now(UTC)
    for n in range(5):
        response = agent_api.post(
            f"/customers/{customer['id']}/interactions",
            {
                "channel": "phone",
                "direction": "in",
                "summary": f"Call {n}",
                "occurred_at": (now - timedelta(hours=5 - n)).isoformat(),
                "duration_seconds": 120,
            },
        )
        assert response.status_code == 201, response.content
        assert response.json()["staff"] == "alice"
    first = agent_api.get(f"/customers/{customer['id']}/timeline", limit=3).json()
    assert [i["summary"] for i in first["items"]] == ["Call 4", "Call 3", "Call 2"]
    rest = agent_api.get(f"/customers/{customer['id']}/timeline", limit=3, cursor=first["next_cursor"]).json()
    assert [i["summary"] for i in rest["items"]] == ["Call 1", "Call 0"]
    assert rest["next_cursor"] is None


def test_bad_interactions_are_refused(agent_api: ApiClient) -> None:
    customer = create(agent_api)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = agent_api.post(
        f"/customers/{customer['id']}/interactions",
        {"channel": "pigeon", "direction": "sideways", "summary": "", "occurred_at": future, "duration_seconds": -5},
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"channel", "direction", "summary", "occurred_at", "duration_seconds"}
    assert Interaction.objects.count() == 0
    missing = agent_api.post("/customers/424242/interactions", {"channel": "phone", "direction": "in", "summary": "x"})
    assert missing.status_code == 404


def test_search_by_name_email_phone_reference_and_contact_text(agent_api: ApiClient) -> None:
    jane = create(agent_api)
    bob = create(agent_api, name="Robert Smithson", emails=["bob@example.org"], phones=["+1 212 555 0100"])
    agent_api.post(
        f"/customers/{bob['id']}/interactions",
        {"channel": "email", "direction": "in", "summary": "Parcel arrived damaged"},
    )

    def found(q: str) -> list[int]:
        return [c["id"] for c in agent_api.get("/search", q=q).json()["customers"]]

    assert sorted(found("smi")) == sorted([jane["id"], bob["id"]])
    assert found("jane smi") == [jane["id"]]
    assert found("Ján") == [jane["id"]]  # accents fold
    assert found("bob@example.org") == [bob["id"]]
    assert found("bob@ex") == [bob["id"]]
    assert found("+12125550100") == [bob["id"]]
    assert found("020 7946") == [jane["id"]]
    assert found(jane["reference"]) == [jane["id"]]
    assert found("nobody-at-all") == []
    hits = agent_api.get("/search", q="damag").json()["interactions"]
    assert [h["customer"] for h in hits] == [bob["id"]]


def test_merge_moves_everything_and_is_recorded(lead_api: ApiClient, lead: Staff) -> None:
    survivor = create(lead_api, tags=["vip"])
    duplicate = create(
        lead_api,
        name="J. Smith",
        emails=["j.smith@example.com"],
        phones=["+44 20 7946 0018", "+44 7911 123456"],
        tags=["wholesale"],
        external_id="ERP-9",
        status="active",
    )
    lead_api.post(
        f"/customers/{duplicate['id']}/interactions", {"channel": "letter", "direction": "in", "summary": "Letter"}
    )
    lead_api.post(
        f"/customers/{survivor['id']}/interactions", {"channel": "phone", "direction": "out", "summary": "Call"}
    )

    response = lead_api.post(f"/customers/{survivor['id']}/merge", {"duplicate_id": duplicate["id"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["emails"] == ["jane@example.com", "j.smith@example.com"]
    assert body["phones"] == ["+442079460018", "+447911123456"]
    assert body["tags"] == ["vip", "wholesale"]
    assert body["external_id"] == "ERP-9"
    timeline = lead_api.get(f"/customers/{survivor['id']}/timeline").json()["items"]
    assert sorted(i["summary"] for i in timeline) == ["Call", "Letter"]

    gone = lead_api.get(f"/customers/{duplicate['id']}").json()
    assert gone["merged_into"] == survivor["id"]
    assert gone["emails"] == []
    # Its reference and its timeline URL still lead to the survivor's record.
    assert [c["id"] for c in lead_api.get("/search", q=duplicate["reference"]).json()["customers"]] == [survivor["id"]]
    assert len(lead_api.get(f"/customers/{duplicate['id']}/timeline").json()["items"]) == 2
    assert [c["id"] for c in lead_api.get("/customers").json()["items"]] == [survivor["id"]]
    merged = AuditEntry.objects.get(subject_id=survivor["id"], action="customer.merged")
    assert merged.actor_id == lead.id
    assert merged.changes["merged"]["duplicate_id"] == duplicate["id"]
    assert merged.changes["duplicate_snapshot"]["emails"] == ["j.smith@example.com"]
    # A contact logged later against the old id lands on the survivor.
    lead_api.post(
        f"/customers/{duplicate['id']}/interactions", {"channel": "sms", "direction": "in", "summary": "Late"}
    )
    assert Interaction.objects.filter(customer_id=survivor["id"]).count() == 3

    again = lead_api.post(f"/customers/{survivor['id']}/merge", {"duplicate_id": duplicate["id"]})
    assert again.status_code == 409
    assert lead_api.patch(f"/customers/{duplicate['id']}", {"name": "Zombie"}).status_code == 409


def test_merge_rules(agent_api: ApiClient, lead_api: ApiClient) -> None:
    a = create(lead_api)
    b = create(lead_api, name="B", emails=["b@example.com"], phones=[])
    assert agent_api.post(f"/customers/{a['id']}/merge", {"duplicate_id": b["id"]}).status_code == 403
    assert lead_api.post(f"/customers/{a['id']}/merge", {"duplicate_id": a["id"]}).status_code == 422
    assert lead_api.post(f"/customers/{a['id']}/merge", {"duplicate_id": 987654}).status_code == 422
    assert Customer.objects.filter(merged_into__isnull=False).count() == 0


@pytest.mark.parametrize("path", ["/customers", "/customers/{id}/timeline", "/search?q=smi"])
def test_list_endpoints_do_not_query_per_row(agent_api: ApiClient, django_assert_max_num_queries, path: str) -> None:  # type: ignore[no-untyped-def]
    first = create(agent_api, tags=["vip"])
    for n in range(30):
        c = create(agent_api, name=f"Smith {n}", emails=[f"s{n}@example.com"], phones=[], tags=["vip", f"t{n}"])
        agent_api.post(
            f"/customers/{first['id']}/interactions", {"channel": "phone", "direction": "in", "summary": f"Call {n}"}
        )
        assert c["id"]
    url = path.format(id=first["id"])
    # A fixed handful whatever the row count (search on PostgreSQL adds its SET LOCAL hints).
    with django_assert_max_num_queries(12):
        response = agent_api.client.get(f"/api/v1{url}", headers=agent_api.headers)
    assert response.status_code == 200
