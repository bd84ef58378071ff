"""API test helpers: bearer headers for the shared role fixtures and a small JSON client."""

from shebao.api.tests.helpers import api_as, token_for  # noqa: F401 (fixtures)
