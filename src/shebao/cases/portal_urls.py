"""The employee's acknowledgement pages: public, reached only through a signed link."""

from django.urls import path

from shebao.cases import portal

app_name = "portal"

urlpatterns = [
    path("s/<str:short>/", portal.short_link, name="short"),
    path("<str:token>/", portal.letter_page, name="letter"),
    path("<str:token>/pdf/", portal.letter_pdf, name="pdf"),
    path("<str:token>/code/", portal.send_code, name="code"),
    path("<str:token>/verify/", portal.verify, name="verify"),
    path("<str:token>/answer/", portal.answer, name="answer"),
]
