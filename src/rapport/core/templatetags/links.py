"""``{% link 'name' %}``: ``{% url 'name' %}`` for a URL that takes no arguments, reversed once
per process (and script prefix). The layout alone has 15 such links on every page, and reversing
one costs about 25 µs (bench/README.md, session 5)."""

from __future__ import annotations

from functools import cache

from django import template
from django.urls import get_script_prefix, reverse

register = template.Library()


@register.simple_tag
def link(name: str) -> str:
    return _reversed(name, get_script_prefix())


@cache
def _reversed(name: str, script_prefix: str) -> str:
    return reverse(name)
