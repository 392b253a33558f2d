"""Panels that higher apps add to the customer page (cases, value, feedback) and to the home
page (a member's own cases).

customers sits below them in the layers and must not import them, so they register a
renderer here from their ``AppConfig.ready()``; the views render each in order."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.utils.safestring import SafeString

from rapport.customers.models import Customer

Renderer = Callable[[HttpRequest, Customer], str]
HomeRenderer = Callable[[HttpRequest], str]

_PANELS: dict[str, Renderer] = {}
_HOME_PANELS: dict[str, HomeRenderer] = {}


def register_panel(name: str, render: Renderer) -> None:
    """Add (or replace, so a reloaded app does not register twice) a named panel."""
    _PANELS[name] = render


def render_panels(request: HttpRequest, customer: Customer) -> list[SafeString]:
    # Renderers return template output, which is already escaped HTML.
    return [SafeString(render(request, customer)) for render in _PANELS.values()]


def register_home_panel(name: str, render: HomeRenderer) -> None:
    """Add (or replace) a named panel of the signed-in member's home page."""
    _HOME_PANELS[name] = render


def render_home_panels(request: HttpRequest) -> list[SafeString]:
    return [SafeString(render(request)) for render in _HOME_PANELS.values()]
