from django.urls import path

# Sign-in, home and staff administration (views.py).
urlpatterns: list = []
