from django.urls import path

from rapport.channels import views

urlpatterns = [
    path("contact", views.contact, name="contact"),
    path("attachments/<int:attachment_id>", views.attachment, name="attachment"),
    path("settings/email-templates/", views.email_template_list, name="email-templates"),
    path("settings/email-templates/<str:kind>/<str:language>/", views.email_template_edit, name="email-template"),
]
