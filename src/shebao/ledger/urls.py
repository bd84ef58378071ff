from django.urls import path

from shebao.ledger import views

app_name = "ledger"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("upload/", views.upload, name="upload"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/status/", views.run_status, name="run_status"),
    path("runs/<int:pk>/confirm/", views.run_confirm, name="run_confirm"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run_retry"),
    path("runs/<int:pk>/mapping/", views.run_mapping, name="run_mapping"),
    path("discrepancies/", views.discrepancy_list, name="discrepancies"),
    path("reconcile/", views.reconcile, name="reconcile"),
    path("unknown-people/", views.unknown_people, name="unknown"),
    path("employees/<int:pk>/coverage/", views.coverage, name="coverage"),
    path("connectors/", views.connector_list, name="connectors"),
    path("connectors/new/<str:kind>/", views.connector_create, name="connector_create"),
    path("connectors/<int:pk>/edit/", views.connector_edit, name="connector_edit"),
    path("connectors/<int:pk>/sync/", views.connector_sync, name="connector_sync"),
]
