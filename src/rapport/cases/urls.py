from django.urls import path

from rapport.cases import views

# Case pages: queues, the case page, approvals, root causes, SLA set-up (views.py).
# The fixed words come before <reference> so "new" is never read as a case reference.
urlpatterns: list = [
    path("cases/", views.queue, name="cases"),
    path("cases/new/", views.case_new, name="case-new"),
    path("cases/approvals/", views.approvals, name="case-approvals"),
    path(
        "cases/compensations/<int:compensation_id>/approve/",
        views.decide,
        {"verdict": "approve"},
        name="compensation-approve",
    ),
    path(
        "cases/compensations/<int:compensation_id>/reject/",
        views.decide,
        {"verdict": "reject"},
        name="compensation-reject",
    ),
    path("cases/root-causes/", views.root_causes, name="root-causes"),
    path("cases/root-causes/new/", views.root_cause_create, name="root-cause-create"),
    path("cases/root-causes/actions/", views.action_create, name="action-create"),
    path("cases/root-causes/actions/<int:action_id>/status/", views.action_status, name="action-status"),
    path("cases/settings/", views.sla_settings, name="case-settings"),
    path("cases/settings/calendars/", views.calendar_create, name="calendar-create"),
    path("cases/settings/policies/", views.policy_create, name="policy-create"),
    path("cases/settings/rules/", views.rule_create, name="rule-create"),
    path("cases/<str:reference>/", views.case_detail, name="case"),
    path("cases/<str:reference>/claim/", views.claim, name="case-claim"),
    path("cases/<str:reference>/reply/", views.reply, name="case-reply"),
    path("cases/<str:reference>/status/", views.set_status, name="case-status"),
    path("cases/<str:reference>/handoff/", views.handoff, name="case-handoff"),
    path("cases/<str:reference>/compensations/", views.compensate, name="case-compensate"),
    path("cases/<str:reference>/resolve/", views.resolve, name="case-resolve"),
    path("cases/<str:reference>/reopen/", views.reopen, name="case-reopen"),
]
