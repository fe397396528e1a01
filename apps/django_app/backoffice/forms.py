"""The admin's login form, with failed logins limited (throttle.py)."""

from __future__ import annotations

import math

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from apps.django_app.backoffice import throttle


def wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


class ThrottledLoginForm(AdminAuthenticationForm):
    """Django's admin login, each attempt counted before its password is checked."""

    retry_after: int | None = None  # seconds, when this attempt was refused unchecked

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # Django's own "required" errors; nothing is checked
        attempt = throttle.count_attempt(
            username, self.request and self.request.META.get("REMOTE_ADDR")
        )
        if not attempt.allowed:
            self.retry_after = attempt.retry_after
            raise ValidationError(
                "Too many failed logins for this username or from your address. "
                f"Try again in {wait_text(attempt.retry_after)}.",
                code="too_many_attempts",
            )
        cleaned = super().clean()  # raises on a wrong password: the attempt stays counted
        throttle.forgive(attempt)
        return cleaned
