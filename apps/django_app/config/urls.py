from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from apps.django_app.backoffice import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
