"""Production settings: the defaults plus HTTPS-only cookies, HSTS and a refusal of the dev secret."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from rapport.settings import *  # noqa: F403
from rapport.settings import DEV_SECRET_KEY, SECRET_KEY, _mailer

if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set SECRET_KEY to a random value of 50+ characters for production.")

DEBUG = False
# Mail goes to the local MTA unless EMAIL_URL names another server: never to the console.
if "EMAIL_URL" not in os.environ:
    MAILERS = {"default": _mailer("smtp://localhost:25")}
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
