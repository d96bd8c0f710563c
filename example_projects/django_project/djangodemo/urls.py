from django.contrib import admin
from django.urls import include, path
from signups import views

urlpatterns = [
    path("signups/", views.signup),
    path("signups/async/", views.signup_async),
    path("reports/", views.report),
    path("reports/<str:result_id>/", views.report_result),
    path("stats/", views.stats),
    # The TasQ dashboard: staff may look; a superuser (or tasq.change_task) may retry and cancel.
    path("tasq/", include("tasq.contrib.django.urls")),
    path("admin/", admin.site.urls),
]
