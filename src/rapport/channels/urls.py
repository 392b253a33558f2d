from django.urls import path

from rapport.channels import views

urlpatterns = [
    path("contact", views.contact, name="contact"),
    path("attachments/<int:attachment_id>", views.attachment, name="attachment"),
]
