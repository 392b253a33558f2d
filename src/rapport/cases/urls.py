from django.urls import path

# Case pages: queues, the case page, root causes (views.py).
urlpatterns: list = []
