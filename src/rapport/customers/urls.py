from django.urls import path

from rapport.customers import imports_views, views

# Pages for customers and their timeline (views.py).
urlpatterns: list = [
    path("", views.home, name="home"),
    path("search", views.search, name="search"),
    path("customers/", views.customer_list, name="customers"),
    path("customers/new/", views.customer_new, name="customer-new"),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer"),
    path("customers/<int:customer_id>/edit/", views.customer_edit, name="customer-edit"),
    path("customers/<int:customer_id>/log/", views.customer_log, name="customer-log"),
    path("customers/<int:customer_id>/merge/", views.customer_merge, name="customer-merge"),
]

# CSV import and export pages (imports_views.py).
urlpatterns += [
    path("customers/import/", imports_views.import_page, name="customer-import"),
    path("customers/import/<int:job_id>/", imports_views.import_job, name="customer-import-job"),
    path("customers/import/<int:job_id>/confirm/", imports_views.import_confirm, name="customer-import-confirm"),
    path("customers/export.csv", imports_views.export_csv, name="customer-export"),
]
