from django.urls import path

from shebao.imports import views

app_name = "imports"
urlpatterns = [
    path("", views.batch_list, name="list"),
    path("new/", views.batch_create, name="create"),
    path("template.xlsx", views.template_download, name="template"),
    path("<int:pk>/", views.batch_detail, name="detail"),
    path("<int:pk>/progress/", views.batch_progress, name="progress"),
    path("<int:pk>/mapping/", views.batch_mapping, name="mapping"),
    path("<int:pk>/mode/", views.batch_mode, name="mode"),
    path("<int:pk>/commit/", views.batch_commit, name="commit"),
    path("<int:pk>/errors.xlsx", views.batch_errors, name="errors"),
]
