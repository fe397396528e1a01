"""The admin site: Django's, with a login that limits failed attempts (forms.py).

Installed as the default site (config/apps.py), so ``admin.site`` is this one.
"""

from __future__ import annotations

from django.contrib import admin

from apps.django_app.backoffice.forms import ThrottledLoginForm


class BackofficeSite(admin.AdminSite):
    login_form = ThrottledLoginForm

    def login(self, request, extra_context=None):
        """Django's login view; a refused attempt is answered 429 with Retry-After."""
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        retry_after = getattr(form, "retry_after", None)
        if retry_after:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response
