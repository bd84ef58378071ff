from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect


def login_required(view):
    """Like django's login_required, but an HTMX request (e.g. a polling partial after the
    session expired) gets a full-page redirect to the login page instead of the login form
    swapped into a fragment."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if getattr(request, "htmx", False):
            current = request.htmx.current_url_abs_path or reverse("web:dashboard")
            return HttpResponseClientRedirect(redirect_to_login(current).url)
        return redirect_to_login(request.get_full_path())

    return wrapper
