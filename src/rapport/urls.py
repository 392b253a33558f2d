from django.urls import include, path

from rapport.api import api
from rapport.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("", include("rapport.people.urls")),
    path("", include("rapport.customers.urls")),
    path("", include("rapport.cases.urls")),
    path("", include("rapport.channels.urls")),
    path("", include("rapport.value.urls")),
    path("", include("rapport.feedback.urls")),
]

handler400 = "rapport.core.views.bad_request"
handler403 = "rapport.core.views.forbidden"
handler404 = "rapport.core.views.not_found"
handler500 = "rapport.core.views.server_error"
