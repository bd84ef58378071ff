from django.urls import path

from shebao.rules import views

app_name = "rules"
urlpatterns = [
    path("", views.rule_list, name="list"),
    path("new/", views.rule_create, name="create"),
    path("new/preview/", views.rule_preview, name="preview_new"),
    path("evaluate/", views.evaluate_all, name="evaluate"),
    path("<int:pk>/edit/", views.rule_edit, name="edit"),
    path("<int:pk>/preview/", views.rule_preview, name="preview"),
    path("<int:pk>/toggle/", views.rule_toggle, name="toggle"),
    path("<int:pk>/delete/", views.rule_delete, name="delete"),
    path("findings/", views.finding_list, name="findings"),
    path("findings/action/", views.finding_action, name="finding_action"),
    path("findings/<int:pk>/", views.finding_detail, name="finding"),
]
