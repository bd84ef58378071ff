from django.urls import path

from shebao.notify import views

app_name = "notify"
urlpatterns = [
    path("channels/", views.channel_list, name="channels"),
    path("channels/new/", views.channel_create, name="channel_create"),
    path("channels/<int:pk>/", views.channel_detail, name="channel"),
    path("channels/<int:pk>/test/", views.channel_test, name="channel_test"),
    path("channels/<int:pk>/toggle/", views.channel_toggle, name="channel_toggle"),
    path("channels/<int:pk>/delete/", views.channel_delete, name="channel_delete"),
    path("templates/", views.template_list, name="templates"),
    path("templates/<str:event>/<str:format>/<str:language>/", views.template_edit, name="template"),
    path(
        "templates/<str:event>/<str:format>/<str:language>/preview/",
        views.template_preview,
        name="template_preview",
    ),
    path(
        "templates/<str:event>/<str:format>/<str:language>/reset/",
        views.template_reset,
        name="template_reset",
    ),
    path("log/", views.log_list, name="log"),
    path("log/<int:pk>/", views.log_detail, name="log_detail"),
    path("log/<int:pk>/retry/", views.log_action, {"action": "retry"}, name="log_retry"),
    path("log/<int:pk>/cancel/", views.log_action, {"action": "cancel"}, name="log_cancel"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/read/", views.inbox_read, name="inbox_read"),
    path("inbox/<int:pk>/", views.inbox_open, name="inbox_open"),
    path("preferences/", views.preferences, name="preferences"),
    path("mail-sink/", views.mail_sink, name="mail_sink"),
    path("mail-sink/<str:name>/", views.mail_sink_message, name="mail_sink_message"),
    path("sms-sink/", views.sms_sink, name="sms_sink"),
]
