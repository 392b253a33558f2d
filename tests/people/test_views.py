"""Staff administration pages and the viewer's time zone."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from rapport.core.models import AuditEntry
from rapport.people.models import Role, Staff, Team

pytestmark = pytest.mark.django_db


def signed_in(staff: Staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize(("who", "status"), [("agent", 403), ("lead", 403), ("manager", 200), ("admin", 200)])
def test_staff_page_is_for_managers_and_admins(request: pytest.FixtureRequest, who: str, status: int) -> None:
    staff = request.getfixturevalue(who)
    response = signed_in(staff).get("/staff/")
    assert response.status_code == status
    if status == 403:
        assert b"Not allowed" in response.content
    else:
        assert (
            b"Add a staff member" in response.content
            and f'aria-label="Role for {staff.username}"'.encode() in response.content
        )


def test_staff_link_only_for_managers(agent: Staff, manager: Staff) -> None:
    assert b'href="/staff/"' not in signed_in(agent).get("/").content
    assert b'href="/staff/"' in signed_in(manager).get("/").content


def test_agents_cannot_post_staff_changes(agent: Staff, lead: Staff) -> None:
    client = signed_in(agent)
    assert (
        client.post("/staff/new/", {"username": "x", "role": "admin", "password": "a-long-password-1"}).status_code
        == 403
    )
    assert client.post(f"/staff/{lead.id}/", {"role": "agent"}).status_code == 403
    assert client.post("/staff/teams/", {"name": "Rogue"}).status_code == 403
    assert not Staff.objects.filter(username="x").exists()


def test_manager_adds_staff(manager: Staff) -> None:
    team = Team.objects.create(name="Second line")
    response = signed_in(manager).post(
        "/staff/new/",
        {
            "username": "newbie",
            "first_name": "New",
            "last_name": "Bie",
            "email": "newbie@example.com",
            "role": "agent",
            "team": team.id,
            "password": "a-sufficiently-long-secret",
        },
    )
    assert response.status_code == 302
    staff = Staff.objects.get(username="newbie")
    assert staff.team == team and staff.role == Role.AGENT and staff.check_password("a-sufficiently-long-secret")
    assert AuditEntry.objects.filter(action="staff.created", actor=manager, subject_id=staff.id).exists()


def test_add_staff_errors(manager: Staff, agent: Staff) -> None:
    client = signed_in(manager)
    weak = client.post("/staff/new/", {"username": "weak", "role": "agent", "password": "short"})
    assert weak.status_code == 400 and b"too short" in weak.content
    taken = client.post("/staff/new/", {"username": "alice", "role": "agent", "password": "another-long-secret-9"})
    assert taken.status_code == 400 and b"is taken" in taken.content
    admin = client.post("/staff/new/", {"username": "boss", "role": "admin", "password": "another-long-secret-9"})
    assert admin.status_code == 403  # only an admin makes admins


def test_manager_changes_role_team_and_active(manager: Staff, agent: Staff) -> None:
    team = Team.objects.create(name="Escalations")
    client = signed_in(manager)
    response = client.post(f"/staff/{agent.id}/", {"role": "lead", "team": team.id, "is_active": "on"})
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.role == Role.LEAD and agent.team == team and agent.is_active
    client.post(f"/staff/{agent.id}/", {"role": "lead", "team": "", "is_active": "on"})  # "" keeps the team
    agent.refresh_from_db()
    assert agent.team == team
    assert b'<option value="none">No team</option>' in client.get("/staff/").content
    client.post(f"/staff/{agent.id}/", {"role": "lead", "team": "none", "is_active": "on"})
    agent.refresh_from_db()
    assert agent.team is None
    unknown = client.post(f"/staff/{agent.id}/", {"role": "lead", "team": "999999"}, follow=True)
    assert b"Choose a team from the list." in unknown.content
    client.post(f"/staff/{agent.id}/", {"role": "lead"})  # checkbox unticked: deactivate
    agent.refresh_from_db()
    assert not agent.is_active
    self_off = client.post(f"/staff/{manager.id}/", {"role": "manager"}, follow=True)
    assert b"cannot deactivate yourself" in self_off.content


def test_teams(manager: Staff) -> None:
    client = signed_in(manager)
    assert client.post("/staff/teams/", {"name": "Night shift"}).status_code == 302
    assert Team.objects.filter(name="Night shift").exists()
    again = client.post("/staff/teams/", {"name": "Night shift"})
    assert again.status_code == 400 and b"already exists" in again.content
    assert b"Night shift" in client.get("/staff/").content


def test_staff_page_query_count_is_flat(manager: Staff, django_assert_max_num_queries: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rapport.people.services import create_staff

    client = signed_in(manager)
    for i in range(3):
        create_staff(actor=None, username=f"s{i}", role="agent", team=f"Team {i}")
    with CaptureQueriesContext(connection) as few:
        client.get("/staff/")
    for i in range(3, 30):
        create_staff(actor=None, username=f"s{i}", role="agent", team=f"Team {i}")
    with django_assert_max_num_queries(len(few)):
        assert client.get("/staff/").status_code == 200


def test_times_show_in_the_viewers_zone(agent: Staff) -> None:
    agent.timezone = "Asia/Tokyo"
    agent.save()
    body = signed_in(agent).get("/").content.decode()
    assert "Times in Asia/Tokyo" in body


def test_the_signed_in_member_comes_with_their_team(agent: Staff, django_assert_num_queries: Any) -> None:
    agent.team = Team.objects.create(name="Night shift")
    agent.save()
    response = signed_in(agent).get("/")
    assert response.status_code == 200 and b"Night shift" in response.content
    member = response.wsgi_request.user
    assert isinstance(member, Staff)
    with django_assert_num_queries(0):  # loaded with the member by the session's backend
        assert member.team is not None and member.team.name == "Night shift"


def test_settings_links_in_the_account_menu_for_managers(manager: Staff, agent: Staff) -> None:
    page = signed_in(manager).get("/").content.decode()
    for url in ("/cases/settings/", "/settings/email-templates/", "/value/settings/"):
        assert f'href="{url}"' in page
        assert signed_in(manager).get(url).status_code == 200
    assert "/settings/email-templates/" not in signed_in(agent).get("/").content.decode()
