from django.urls import path

from shebao.policy import calc_views

app_name = "calc"
urlpatterns = [
    path("", calc_views.calculator, name="index"),
    path("<str:kind>/", calc_views.calculator, name="kind"),
]
