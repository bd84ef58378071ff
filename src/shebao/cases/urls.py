from django.urls import path

from shebao.cases import letter_views, views

app_name = "cases"

urlpatterns = [
    # cases (views.py)
    path("", views.case_list, name="list"),
    path("board/", views.case_board, name="board"),
    path("open/", views.case_open, name="open"),  # POST: finding_ids[] (+ template) → one or many
    path("<int:pk>/", views.case_detail, name="detail"),
    path("<int:pk>/advance/", views.case_advance, name="advance"),
    path("<int:pk>/assign/", views.case_assign, name="assign"),
    path("<int:pk>/note/", views.case_note, name="note"),
    path("<int:pk>/attach/", views.case_attach, name="attach"),
    path("<int:pk>/escalate/", views.case_escalate, name="escalate"),
    path("<int:pk>/cancel/", views.case_cancel, name="cancel"),
    path("<int:pk>/backpay/", views.case_backpay, name="backpay"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment"),
    path("workflows/", views.workflow_list, name="workflows"),
    path("workflows/<int:pk>/", views.workflow_edit, name="workflow"),
    path("workflows/<int:pk>/preview/", views.workflow_preview, name="workflow_preview"),
    # letters (letter_views.py)
    path("<int:pk>/letters/issue/", letter_views.letter_issue, name="letter_issue"),
    path("letters/<int:pk>/", letter_views.letter_detail, name="letter"),
    path("letters/<int:pk>/pdf/", letter_views.letter_download, name="letter_pdf"),
    path("letters/<int:pk>/send/", letter_views.letter_send, name="letter_send"),
    path("letters/<int:pk>/withdraw/", letter_views.letter_withdraw, name="letter_withdraw"),
    path("letter-templates/", letter_views.template_list, name="letter_templates"),
    path("letter-templates/<int:pk>/", letter_views.template_edit, name="letter_template"),
    path("letter-templates/<int:pk>/preview/", letter_views.template_preview, name="letter_template_preview"),
]
