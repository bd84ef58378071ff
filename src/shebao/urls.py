from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from shebao.api.api import api

admin.site.site_header = "社保合规助手 管理后台"
admin.site.site_title = "社保合规助手"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("employees/", include("shebao.roster.urls")),
    path("audit/", include("shebao.audit.urls")),
    path("law/", include("shebao.law.urls")),
    path("calc/", include("shebao.policy.calc_urls")),
    path("account/", include("shebao.accounts.urls")),
    path("policy/", include("shebao.policy.urls")),
    path("imports/", include("shebao.imports.urls")),
    path("ledger/", include("shebao.ledger.urls")),
    path("rules/", include("shebao.rules.urls")),
    path("notify/", include(("shebao.notify.urls", "notify"))),
    path("cases/", include(("shebao.cases.urls", "cases"))),
    path("a/", include(("shebao.cases.portal_urls", "portal"))),
    path("evidence/", include("shebao.evidence.urls")),
    path("", include("shebao.web.urls")),
]
