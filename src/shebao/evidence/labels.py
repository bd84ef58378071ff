"""Words for entries: the kind's label and a one-line summary, shared by the pages, the API and the
bundle's PDF timeline."""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext_lazy as _

KIND_LABELS = {
    "case.opened": _("立案"),
    "case.step_started": _("进入步骤"),
    "case.step_done": _("完成步骤"),
    "case.assigned": _("指派负责人"),
    "case.note": _("备注"),
    "case.letter_issued": _("生成函件"),
    "case.letter_sent": _("发送函件"),
    "case.letter_opened": _("员工打开函件"),
    "case.identity": _("员工身份确认"),
    "case.acknowledged": _("员工确认收到"),
    "case.disagreed": _("员工提出异议"),
    "case.attachment": _("上传附件"),
    "case.escalated": _("升级"),
    "case.data": _("记录数据"),
    "case.closed": _("结案"),
    "case.cancelled": _("撤销案件"),
    "status.checked": _("核查参保状态"),
    "finding.opened": _("发现预警"),
    "delivery.attempt": _("消息投递"),
    "source.applied": _("导入政府数据"),
    "chain.checkpoint": _("每日校验点"),
    "key.created": _("签名密钥生成"),
    "bundle.exported": _("导出证据包"),
}


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def payload_of(entry) -> dict[str, Any]:
    text = entry.payload if hasattr(entry, "payload") else entry.get("payload")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def entry_summary(entry) -> str:
    """One line in Chinese: what the entry records."""
    kind = entry.kind if hasattr(entry, "kind") else entry.get("kind", "")
    p = payload_of(entry)
    if kind == "case.opened":
        data = p.get("data") or {}
        parts = [f"流程「{data.get('template', '')}」第 {data.get('version', '')} 版"]
        if data.get("finding_title"):
            parts.append(f"预警：{data['finding_title']}")
        if p.get("text"):
            parts.append(p["text"])
        return "；".join(parts)
    if kind.startswith("case."):
        parts = [p.get("text") or ""]
        if p.get("step"):
            step = p["step"]
            parts.insert(
                0,
                f"步骤「{step.get('name', '')}」"
                + (f"：{step['choice_label']}" if step.get("choice_label") else ""),
            )
        if p.get("letter"):
            parts.append(
                f"函件 {p['letter'].get('number', '')}（SHA-256 {str(p['letter'].get('sha256', ''))[:16]}…）"
            )
        if p.get("attachment"):
            a = p["attachment"]
            parts.append(f"文件 {a.get('filename', '')}（SHA-256 {str(a.get('sha256', ''))[:16]}…）")
        return "；".join(x for x in parts if x)
    if kind == "status.checked":
        finding = p.get("finding") or {}
        sources = p.get("sources") or []
        files = "、".join(f"{s.get('file_name') or s.get('source_label', '')}" for s in sources[:3])
        text = f"立案时的参保缴费记录（{len(sources)} 个数据来源{('：' + files) if files else ''}）"
        if finding:
            text = f"预警「{finding.get('title', '')}」；" + text
        return text
    if kind == "finding.opened":
        amount = f"，涉及金额 {p['amount']} 元" if p.get("amount") else ""
        return f"规则「{p.get('rule_name', '')}」：{p.get('title', '')}{amount}"
    if kind == "delivery.attempt":
        ok = "成功" if p.get("ok") else ("失败：" + (p.get("error") or p.get("error_code") or ""))
        receipt = f"，回执 {p['provider_id']}" if p.get("provider_id") else ""
        return f"第 {p.get('attempt')} 次通过「{p.get('channel', '')}」发送到 {p.get('address') or '站内信'}：{ok}{receipt}"
    if kind == "source.applied":
        digest = p.get("file_sha256") or p.get("received_sha256") or ""
        return f"{p.get('file_name') or p.get('source', '')}（SHA-256 {digest[:16]}…），变更 {p.get('changes', 0)} 项"
    if kind == "chain.checkpoint":
        return f"链头第 {p.get('head_seq')} 条，哈希 {str(p.get('head_hash', ''))[:16]}…"
    if kind == "key.created":
        return f"Ed25519 公钥指纹 {p.get('fingerprint', '')}"
    if kind == "bundle.exported":
        return f"{p.get('subject', '')}，清单 SHA-256 {str(p.get('manifest_sha256', ''))[:16]}…"
    return ""
