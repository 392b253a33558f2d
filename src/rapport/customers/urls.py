from django.urls import path

# Pages for customers and their timeline (views.py).
urlpatterns: list = []

# CSV import and export pages (imports_views.py).
urlpatterns += []
