from django.urls import path

from rapport.feedback import survey_views, views

urlpatterns: list = [
    path("s/<str:token>/", views.answer, name="survey-answer"),
    path("testimonials", views.testimonials, name="testimonials"),
    path("feedback/", views.results, name="feedback-results"),
    path("feedback/surveys/", survey_views.survey_list, name="feedback-surveys"),
    path("feedback/surveys/new/", survey_views.survey_new, name="feedback-survey-new"),
    path("feedback/surveys/<int:survey_id>/edit/", survey_views.survey_edit, name="feedback-survey-edit"),
    path("feedback/surveys/<int:survey_id>/send/", survey_views.survey_send, name="feedback-survey-send"),
    path("feedback/follow-ups/", views.follow_ups, name="feedback-follow-ups"),
    path("feedback/follow-ups/<int:follow_up_id>/close/", views.close_follow_up, name="feedback-follow-up-close"),
    path("feedback/invitations/", views.listed, name="feedback-listed"),
    path("feedback/invitations/<int:invitation_id>/sent/", views.mark_sent, name="feedback-mark-sent"),
    path("feedback/wins/", views.wins, name="feedback-wins"),
    path("feedback/testimonials/<int:testimonial_id>/decide/", views.decide, name="feedback-testimonial-decide"),
    path("feedback/capture/<int:interaction_id>/", views.capture, name="feedback-capture"),
]
