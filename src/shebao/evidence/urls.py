from django.urls import path

from shebao.evidence import views

app_name = "evidence"

urlpatterns = [
    path("", views.chain, name="chain"),
    path("verify/", views.chain_verify, name="verify"),  # POST
    path("checkpoint/", views.checkpoint_create, name="checkpoint"),  # POST
    path("settings/", views.settings_update, name="settings"),  # POST
    path("public-key.pem", views.public_key, name="public_key"),
    path("entries/<int:seq>/", views.entry_detail, name="entry"),
    path("case/<int:pk>/", views.case_evidence, name="case"),
    path("case/<int:pk>/bundle/", views.case_bundle, name="case_bundle"),
    path("employee/<int:pk>/", views.employee_evidence, name="employee"),
    path("employee/<int:pk>/bundle/", views.employee_bundle, name="employee_bundle"),
]
