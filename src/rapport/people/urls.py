from django.contrib.auth import views as auth_views
from django.urls import path

from rapport.people import views

# Sign-in, home and staff administration (views.py). Home lives with the customers pages
# because it lists customers, and people sits below customers in the layers.
urlpatterns: list = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/", views.staff_list, name="staff"),
    path("staff/new/", views.staff_create, name="staff-create"),
    path("staff/<int:staff_id>/", views.staff_update, name="staff-update"),
    path("staff/teams/", views.team_create, name="team-create"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/bell/", views.notification_bell, name="notification-bell"),
    path("notifications/read/", views.notifications_read_all, name="notifications-read-all"),
    path("notifications/<int:notification_id>/read/", views.notification_read, name="notification-read"),
]
