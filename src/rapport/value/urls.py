from django.urls import URLPattern, path

from rapport.value import views

urlpatterns: list[URLPattern] = [
    path("value/", views.value_page, name="value"),
    path("value/unmanaged/", views.unmanaged_page, name="value-unmanaged"),
    path("value/settings/", views.settings_page, name="value-settings"),
]
