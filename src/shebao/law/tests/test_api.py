"""/api/v1/law: bearer token (read scope), search, one article, statutes."""

from __future__ import annotations

import pytest

from shebao.api.tests.helpers import ApiClient

pytestmark = pytest.mark.usefixtures("library")


@pytest.mark.parametrize("path", ["/law/articles", "/law/articles/SIL-86", "/law/statutes"])
def test_token_required(client, path):
    response = ApiClient(client).get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "API 令牌" in response.json()["detail"]


def test_session_login_is_not_enough(admin, login):
    assert login(admin).get("/api/v1/law/statutes").status_code == 401


@pytest.mark.parametrize("role", ["admin", "clerk", "manager", "auditor"])
def test_read_token_of_any_staff_role(request, api_as, role):
    api = api_as(request.getfixturevalue(role))
    assert api.get("/law/statutes").status_code == 200


def test_statutes(api_as, admin):
    rows = api_as(admin).get("/law/statutes").json()
    assert [r["code"] for r in rows][:3] == ["SIL", "LCL", "SIFR"]
    sil = rows[0]
    assert sil["title"] == "中华人民共和国社会保险法"
    assert sil["article_count"] == 26
    assert sil["kind"] == "law"
    assert sil["confidence"] == "official_text" and sil["confidence_stated"] is True
    assert sil["version_date"] == "2018-12-29"
    assert sil["url"] == "/law/statute/SIL/"


def test_search(api_as, admin):
    body = api_as(admin).get("/law/articles", {"q": "滞纳金"}).json()
    assert body["q"] == "滞纳金" and body["terms"] == ["滞纳金"]
    ids = [i["citation_id"] for i in body["items"]]
    assert "SIL-86" in ids and body["total"] == len(ids)
    assert all(i["score"] >= 1 for i in body["items"])


def test_search_by_id_and_statute_filter(api_as, admin):
    api = api_as(admin)
    body = api.get("/law/articles", {"q": "hfr-15"}).json()
    assert body["items"][0]["citation_id"] == "HFR-15" and body["items"][0]["exact"] is True
    body = api.get("/law/articles", {"q": "滞纳金", "statute": "SIFR"}).json()
    assert {i["citation_id"] for i in body["items"]} == {"SIFR-13", "SIFR-24", "SIFR-26"}


def test_empty_query_lists_everything(api_as, admin):
    body = api_as(admin).get("/law/articles").json()
    assert body["total"] == 107 and body["items"][0]["citation_id"] == "SIL-4"
    body = api_as(admin).get("/law/articles", {"statute": "spc-evid"}).json()
    assert [i["citation_id"] for i in body["items"]] == [
        "SPC-EVID-14",
        "SPC-EVID-15",
        "SPC-EVID-93",
        "SPC-EVID-94",
    ]


def test_query_too_long(api_as, admin):
    response = api_as(admin).get("/law/articles", {"q": "滞" * 201})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "q"


def test_one_article(api_as, admin):
    api = api_as(admin)
    body = api.get("/law/articles/SIL-86").json()
    assert body["citation_id"] == "SIL-86"
    assert body["statute"] == "中华人民共和国社会保险法"
    assert body["article_number"] == 86 and body["label"] == "第八十六条"
    assert body["citation"] == "《中华人民共和国社会保险法》第八十六条"
    assert body["text"].startswith("用人单位未按时足额缴纳社会保险费的")
    assert body["confidence"] == "official_text"
    assert api.get("/law/articles/sil86").json()["citation_id"] == "SIL-86"
    transcribed = api.get("/law/articles/SPC-LD2-19").json()
    assert transcribed["confidence"] == "official_text_transcribed"


def test_unknown_article_is_404_with_suggestions(api_as, admin):
    response = api_as(admin).get("/law/articles/SIL-85")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("未找到条文“SIL-85”；您要找的是否为：SIL-84、SIL-86")


def test_documented_under_its_tag(api_as, admin, client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["paths"]["/api/v1/law/articles/{citation_id}"]["get"]["tags"] == ["法规库"]
