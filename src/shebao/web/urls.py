from django.urls import path

from shebao.web import views

app_name = "web"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/counts/", views.dashboard_counts, name="dashboard_counts"),
    path("portal/", views.portal, name="portal"),
]
