"""Panels that higher apps add to the customer page (cases, later value and feedback).

customers sits below them in the layers and must not import them, so they register a
renderer here from their ``AppConfig.ready()``; the detail view renders each in order."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.utils.safestring import SafeString

from rapport.customers.models import Customer

Renderer = Callable[[HttpRequest, Customer], str]

_PANELS: dict[str, Renderer] = {}


def register_panel(name: str, render: Renderer) -> None:
    """Add (or replace, so a reloaded app does not register twice) a named panel."""
    _PANELS[name] = render


def render_panels(request: HttpRequest, customer: Customer) -> list[SafeString]:
    # Renderers return template output, which is already escaped HTML.
    return [SafeString(render(request, customer)) for render in _PANELS.values()]
