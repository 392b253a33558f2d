"""Test settings: the real settings with a fast password hasher.

The database comes from DATABASE_URL as in production, so the same suite runs on SQLite
(the default) and PostgreSQL (``DATABASE_URL=postgres://...``).
"""

import os
import tempfile

os.environ.setdefault("RAPPORT_VAR_DIR", tempfile.mkdtemp(prefix="rapport-test-"))

from rapport.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns when it is missing)
