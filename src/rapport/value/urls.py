from django.urls import URLPattern, path

from rapport.value import views

urlpatterns: list[URLPattern] = [
    path("value/", views.value_page, name="value"),
]
