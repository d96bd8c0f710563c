from django.urls import path
from signups import views

urlpatterns = [
    path("signups/", views.signup),
    path("signups/async/", views.signup_async),
    path("reports/", views.report),
    path("reports/<str:result_id>/", views.report_result),
    path("stats/", views.stats),
]
