"""The one NinjaAPI instance: every app's router under /api/v1, with shared conventions."""

from __future__ import annotations

from ninja import NinjaAPI

from rapport.cases.api import router as cases_router
from rapport.channels.api import router as channels_router
from rapport.core.api import install_problem_handlers
from rapport.customers.api import router as customers_router
from rapport.feedback.api import router as feedback_router
from rapport.people.api import BearerToken
from rapport.people.api import router as people_router
from rapport.value.api import router as value_router

api = NinjaAPI(
    title="Rapport API",
    version="1",
    description=(
        "Rapport's API. Authenticate with `Authorization: Bearer <token>` (create one with "
        "`rapport token USERNAME`). Lists use cursor pagination (`limit`, `cursor` → `next_cursor`). "
        "Errors are `application/problem+json` (RFC 9457) with per-field `errors` on 422. "
        "Creates accept an `Idempotency-Key` header."
    ),
    auth=BearerToken(),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_problem_handlers(api)
api.add_router("/", people_router)
api.add_router("/", customers_router)
api.add_router("/", cases_router)
api.add_router("/", channels_router)
api.add_router("/", value_router)
api.add_router("/", feedback_router)
