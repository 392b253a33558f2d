from tests.conftest import ApiClient


def test_create_get_and_timeline(agent_api: ApiClient) -> None:
    r = agent_api.post("/customers", {"name": "Jane Smith", "emails": ["Jane@Example.com"], "phones": ["020 7946 0018"]})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["emails"] == ["jane@example.com"]
    assert body["phones"] == ["+442079460018"]
    cid = body["id"]
    r = agent_api.post(f"/customers/{cid}/interactions", {"channel": "phone", "direction": "in", "summary": "Asked about delivery"})
    assert r.status_code == 201, r.content
    r = agent_api.get(f"/customers/{cid}/timeline")
    assert [i["summary"] for i in r.json()["items"]] == ["Asked about delivery"]
    r = agent_api.get("/search", q="smi")
    assert [c["id"] for c in r.json()["customers"]] == [cid]
    r = agent_api.get("/search", q="delivery")
    assert len(r.json()["interactions"]) == 1
