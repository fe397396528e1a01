"""Template tags for the admin index: the dashboard and the staff feed."""

from __future__ import annotations

from typing import Any

from django import template

from apps.django_app.backoffice import dashboard as dashboard_selectors
from apps.django_app.backoffice import events

register = template.Library()


@register.filter
def cents(value: int | None) -> str:
    """12345 -> "123.45" (money is integer cents everywhere)."""
    if value is None:
        return "-"
    return f"{value / 100:,.2f}"


@register.inclusion_tag("admin/backoffice/dashboard.html", takes_context=True)
def dashboard(context: dict[str, Any]) -> dict[str, Any]:
    return dashboard_selectors.for_user(context["request"].user)


@register.inclusion_tag("admin/backoffice/feed.html", takes_context=True)
def staff_feed(context: dict[str, Any], limit: int = 20) -> dict[str, Any]:
    request = context["request"]
    allowed = request.user.has_perm("backoffice.view_feeditem")
    return {
        "allowed": allowed,
        "can_mark": request.user.has_perm("backoffice.change_feeditem"),
        "items": list(events.unseen(limit)) if allowed else [],
        "csrf_token": context.get("csrf_token"),
    }
