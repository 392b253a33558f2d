"""Production settings: the defaults plus HTTPS-only cookies, HSTS and a refusal of the dev secret."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from rapport.settings import *  # noqa: F403
from rapport.settings import DEV_SECRET_KEY, SECRET_KEY

if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set SECRET_KEY to a random value of 50+ characters for production.")

DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_SSL_REDIRECT = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
