from django.urls import path

from shebao.law import views

app_name = "law"
urlpatterns = [
    path("", views.law_index, name="index"),
    path("statute/<str:code>/", views.statute_detail, name="statute"),
    path("<str:citation_id>/", views.article_detail, name="article"),
]
