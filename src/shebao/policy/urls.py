from django.urls import path, re_path

from shebao.policy import views

app_name = "policy"
urlpatterns = [
    path("", views.city_list, name="list"),
    path("figure/<int:pk>/", views.figure_cell, name="figure"),
    path("figure/<int:pk>/edit/", views.figure_edit, name="figure_edit"),
    path("figure/<int:pk>/verify/", views.figure_verify, name="figure_verify"),
    path("figure/<int:pk>/correct/", views.figure_correct, name="figure_correct"),
    path("figure/<int:pk>/history/", views.figure_history, name="figure_history"),
    path("entity/<int:entity_id>/", views.entity_setting, name="entity"),
    re_path(r"^(?P<city_code>\d{6})/$", views.city_detail, name="city"),
]
