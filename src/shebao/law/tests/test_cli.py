"""shebao law show / search / list / doc / load."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

pytestmark = pytest.mark.usefixtures("library")


def run(*args: str) -> str:
    out = StringIO()
    call_command("law", *args, stdout=out)
    return out.getvalue()


def test_show_json():
    data = json.loads(run("show", "SIL-86", "--json"))
    assert {k: data[k] for k in ("citation_id", "statute", "article_number", "confidence")} == {
        "citation_id": "SIL-86",
        "statute": "中华人民共和国社会保险法",
        "article_number": 86,
        "confidence": "official_text",
    }
    assert data["text"].startswith("用人单位未按时足额缴纳社会保险费的")
    assert data["version"].startswith("2010-10-28 通过")
    assert data["source"].startswith("GitHub `LawRefBook/Laws`")


def test_show_text():
    out = run("show", "lcl-47")
    assert out.startswith("《中华人民共和国劳动合同法》第四十七条  [LCL-47]\n")
    assert "\n\n劳动者月工资高于" in out
    assert "可信度：官方原文\n" in out
    assert "可信度：官方原文（原文件未标注，按来源推定）" in run("show", "ESL-8")


def test_show_unknown_id_suggests_close_ones():
    with pytest.raises(CommandError, match="未找到条文“SIL-85”；您要找的是否为：SIL-84、SIL-86"):
        run("show", "SIL-85")
    with pytest.raises(CommandError, match="^未找到条文“完全无关”$"):
        run("show", "完全无关")


def test_unknown_id_exits_non_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        ManagementUtility(["shebao", "law", "show", "SIL-85"]).execute()
    assert exc.value.code != 0
    assert "未找到条文“SIL-85”" in capsys.readouterr().err


def test_search():
    rows = json.loads(run("search", "滞纳金", "--json"))
    assert "SIL-86" in [r["citation_id"] for r in rows]
    out = run("search", "经济补偿", "劳动合同法")
    assert "LCL-46" in out and "共 " in out
    assert "没有找到" in run("search", "不存在的词")
    rows = json.loads(run("search", "滞纳金", "--statute", "SIL", "--json"))
    assert [r["citation_id"] for r in rows] == ["SIL-86"]


def test_list():
    rows = json.loads(run("list", "--json"))
    assert len(rows) == 16 and rows[0]["code"] == "SIL" and rows[0]["article_count"] == 26
    assert "SPC-LD1" in run("list")
    rows = json.loads(run("list", "ldmal", "--json"))
    assert [r["citation_id"] for r in rows] == ["LDMAL-2", "LDMAL-27"]
    with pytest.raises(CommandError, match="未找到法规“XX”"):
        run("list", "XX")


def test_doc_and_load(tmp_path):
    target = tmp_path / "citations.md"
    run("doc", "--output", str(target))
    assert "| `SIL-86` |" in target.read_text(encoding="utf-8")
    assert run("doc").startswith("# 法规库引用编号一览")
    assert run("load") == "法规库已更新：新增 0，修改 0，删除 0\n"
