"""OpenAPI schema and Swagger UI: served offline from the ninja app's static files."""

from __future__ import annotations

import re


def test_docs_use_bundled_static_files_only(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script src="/static/ninja/swagger-ui-bundle.js">' in html
    assert 'href="/static/ninja/swagger-ui.css"' in html
    assert '"url": "/api/v1/openapi.json"' in html
    urls = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', html)
    assert urls and all(u.startswith("/static/ninja/") for u in urls), urls
    assert not re.search(r"https?://|//cdn|unpkg|jsdelivr", html, re.IGNORECASE)


def test_bundled_static_files_are_served(client):
    for name in ("swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css"):
        response = client.get(f"/static/ninja/{name}")
        assert response.status_code == 200, name
        b"".join(response.streaming_content) if response.streaming else response.content


def test_openapi_schema(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == {
        "/api/v1/employees",
        "/api/v1/employees/{employee_id}",
        "/api/v1/employees/{employee_id}/reveal",
        "/api/v1/entities",
        "/api/v1/law/articles",
        "/api/v1/law/articles/{citation_id}",
        "/api/v1/law/statutes",
        "/api/v1/calc/contribution",
        "/api/v1/calc/late-fee",
        "/api/v1/calc/backpay",
        "/api/v1/calc/compensation",
        "/api/v1/calc/deadlines",
        "/api/v1/calc/medical-gap",
        "/api/v1/policy/cities",
        "/api/v1/policy/cities/{city}",
        "/api/v1/imports",
        "/api/v1/imports/fields",
        "/api/v1/imports/{batch_id}",
        "/api/v1/imports/{batch_id}/preview",
        "/api/v1/imports/{batch_id}/mapping",
        "/api/v1/imports/{batch_id}/confirm",
        "/api/v1/imports/{batch_id}/errors.xlsx",
        "/api/v1/ledger/uploads",
        "/api/v1/ledger/runs",
        "/api/v1/ledger/runs/{run_id}",
        "/api/v1/ledger/runs/{run_id}/confirm",
        "/api/v1/ledger/runs/{run_id}/retry",
        "/api/v1/ledger/runs/{run_id}/cancel",
        "/api/v1/ledger/employees/{employee_id}/coverage",
        "/api/v1/ledger/overview",
        "/api/v1/ledger/discrepancies",
        "/api/v1/ledger/reconcile",
        "/api/v1/ledger/unknown-people",
        "/api/v1/ledger/profiles",
        "/api/v1/ledger/connectors",
        "/api/v1/ledger/connectors/{connector_id}/sync",
        "/api/v1/rules",
        "/api/v1/rules/kinds",
        "/api/v1/rules/{rule_id}",
        "/api/v1/rules/{rule_id}/preview",
        "/api/v1/rules/evaluate",
        "/api/v1/findings",
        "/api/v1/findings/{finding_id}",
        "/api/v1/findings/transition",
        "/api/v1/findings/assign",
        "/api/v1/channels",
        "/api/v1/channels/{channel_id}",
        "/api/v1/notifications",
        "/api/v1/notifications/{notification_id}",
        "/api/v1/inbox",
        "/api/v1/inbox/read",
        "/api/v1/cases",
        "/api/v1/cases/{case_id}",
        "/api/v1/cases/{case_id}/advance",
        "/api/v1/cases/{case_id}/notes",
        "/api/v1/cases/{case_id}/events",
        "/api/v1/cases/{case_id}/evidence-bundle",
        "/api/v1/employees/{employee_id}/evidence-bundle",
        "/api/v1/evidence/entries",
        "/api/v1/evidence/entries/{seq}",
        "/api/v1/evidence/status",
        "/api/v1/evidence/verify",
        "/api/v1/cases/{case_id}/letters",
        "/api/v1/letters/{letter_id}/pdf",
        "/api/v1/letters/{letter_id}/acknowledgements",
        "/api/v1/workflows",
        "/api/v1/workflows/{code}",
    }
    assert set(schema["paths"]["/api/v1/employees"]) == {"get", "post"}
    assert set(schema["paths"]["/api/v1/employees/{employee_id}"]) == {"get", "patch"}
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert schema["paths"]["/api/v1/employees"]["get"]["tags"] == ["员工"]
    # No operation is left unauthenticated.
    for path in schema["paths"].values():
        for operation in path.values():
            assert operation["security"] == [{"TokenAuth": []}]
    assert "id_number" not in schema["components"]["schemas"]["EmployeeOut"]["properties"]
