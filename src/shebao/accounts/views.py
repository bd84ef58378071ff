"""The signed-in user's own API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied as Forbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from shebao.accounts.forms import ApiTokenCreateForm
from shebao.accounts.models import ApiToken
from shebao.accounts.permissions import can_edit_roster, can_manage_tokens
from shebao.accounts.selectors import api_token_list
from shebao.accounts.services import api_token_create, api_token_revoke
from shebao.core.context import Actor
from shebao.core.exceptions import ApplicationError
from shebao.web.decorators import login_required


def _check(user) -> None:
    if not can_manage_tokens(user):
        raise Forbidden(_("该账号不能使用 API 令牌"))


@never_cache  # the response to a successful POST carries the secret
@require_http_methods(["GET", "POST"])
@login_required
def tokens(request):
    user = request.user
    _check(user)
    created = secret = None
    if request.method == "POST":
        form = ApiTokenCreateForm(request.POST)
        if form.is_valid():
            try:
                created, secret = api_token_create(
                    actor=Actor.from_request(request),
                    user=user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                )
            except ApplicationError as exc:  # includes PermissionDenied (e.g. read-only role, write scope)
                form.add_application_error(exc)
            else:
                form = ApiTokenCreateForm()
    else:
        form = ApiTokenCreateForm()
    return render(
        request,
        "accounts/tokens.html",
        {
            "active": "tokens",
            "form": form,
            "tokens": api_token_list(user=user),
            "created": created,
            "secret": secret,
            "read_only": not can_edit_roster(user),
        },
    )


@require_POST
@login_required
def token_revoke(request, pk: int):
    _check(request.user)
    # Any token id: the service decides (own tokens; HR admins any) and says why not.
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    try:
        api_token_revoke(actor=Actor.from_request(request), token=token)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("已吊销令牌“%(name)s”，使用它的程序将无法再访问 API") % {"name": token.name}
        )
    return redirect("accounts:tokens")
