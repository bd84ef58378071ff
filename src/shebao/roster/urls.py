from django.urls import path

from shebao.roster import views

app_name = "roster"
urlpatterns = [
    path("", views.employee_list, name="list"),
    path("new/", views.employee_create, name="create"),
    path("<int:pk>/", views.employee_detail, name="detail"),
    path("<int:pk>/edit/", views.employee_edit, name="edit"),
    path("<int:pk>/rehire/", views.employee_rehire, name="rehire"),
    path("<int:pk>/reveal/<str:field>/", views.employee_reveal, name="reveal"),
]
