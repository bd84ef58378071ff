"""The evidence ledger: entries are linked as they are written, in the transaction of the event;
nothing can be changed through the application; verification finds and locates every kind of
tampering done behind its back (payload edited, hashes recomputed, entries deleted or reordered,
history rewritten after a checkpoint); PostgreSQL's triggers refuse UPDATE and DELETE."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection, transaction

from shebao.core.context import Actor
from shebao.evidence.models import Entry, Head, LedgerIsAppendOnly
from shebao.evidence.services import chain_verify, checkpoint_create, entry_append
from shebao.evidence.testing import raw
from shebao.evidence.verifier import GENESIS, canonical, entry_hash, payload_digest

SYSTEM = Actor.system()


def _add(n: int, *, employee_id: int | None = None) -> list[Entry]:
    return [
        entry_append(
            kind="test.event", payload={"n": i, "text": "员工确认收到"}, actor=SYSTEM, employee_id=employee_id
        )
        for i in range(n)
    ]


def _problems(run) -> list[tuple[str, int | None]]:
    return [(p["code"], p["seq"]) for p in run.problems]


@pytest.mark.django_db
def test_entries_are_numbered_and_linked():
    a, b = _add(2, employee_id=7)
    c = entry_append(kind="test.event", payload={"x": 1}, actor="hr", employee_id=8)
    d = entry_append(kind="test.event", payload={"x": 2}, actor="hr")
    assert [e.seq for e in (a, b, c, d)] == [1, 2, 3, 4]
    assert (a.prev, b.prev, c.prev, d.prev) == (GENESIS, a.hash, b.hash, c.hash)
    # each employee's own chain
    assert (a.stream_prev, b.stream_prev, c.stream_prev) == (GENESIS, a.hash, GENESIS)
    assert d.stream == "" and d.stream_prev == ""
    # the stored text is what is hashed, and the header hash is reproducible from the fields alone
    assert b.payload == '{"n":1,"text":"员工确认收到"}'
    assert b.payload_sha256 == payload_digest(b.payload)
    assert entry_hash(b.header()) == b.hash
    head = Head.objects.get(pk=1)
    assert (head.seq, head.hash) == (4, d.hash)
    run = chain_verify()
    assert run.result == "ok" and run.entries == 4 and run.problems == []


@pytest.mark.django_db
def test_entry_rolls_back_with_the_event():
    (first,) = _add(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        entry_append(kind="test.event", payload={"lost": True}, actor=SYSTEM)
        raise RuntimeError("the event's transaction fails")
    assert Entry.objects.count() == 1
    assert Head.objects.get(pk=1).hash == first.hash
    (second,) = _add(1)
    assert second.seq == 2 and second.prev == first.hash


@pytest.mark.django_db
def test_application_refuses_to_change_entries():
    (entry,) = _add(1)
    entry.payload = "{}"
    with pytest.raises(LedgerIsAppendOnly):
        entry.save()
    with pytest.raises(LedgerIsAppendOnly):
        entry.delete()
    with pytest.raises(LedgerIsAppendOnly):
        Entry.objects.filter(pk=entry.pk).update(kind="x")
    with pytest.raises(LedgerIsAppendOnly):
        Entry.objects.all().delete()
    assert Entry.objects.get().payload != "{}"


@pytest.mark.django_db
def test_database_refuses_update_and_delete_on_postgresql():
    """On PostgreSQL the triggers refuse even raw SQL; on SQLite raw SQL gets through and the
    next verification catches it (both halves of the issue's rule)."""
    (entry,) = _add(1)
    if connection.vendor == "postgresql":
        for sql in (
            "UPDATE evidence_entry SET kind = 'forged' WHERE seq = 1",
            "DELETE FROM evidence_entry WHERE seq = 1",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute(sql)
        assert Entry.objects.get().kind == "test.event"
        assert chain_verify().result == "ok"
    else:
        with connection.cursor() as cur:
            cur.execute("UPDATE evidence_entry SET kind = 'forged' WHERE seq = 1")
        run = chain_verify()
        assert run.result == "broken" and _problems(run) == [("hash", 1)]


@pytest.mark.django_db
def test_edited_payload_is_located():
    _add(5)
    raw("UPDATE evidence_entry SET payload = %s WHERE seq = 3", ['{"n":99,"text":"员工确认收到"}'])
    run = chain_verify()
    assert run.result == "broken" and run.first_bad_seq == 3
    assert _problems(run) == [("payload", 3)]
    assert "第 3 条" in run.problems[0]["message"] and "内容被改动" in run.problems[0]["message"]


@pytest.mark.django_db
def test_edited_payload_with_its_hash_recomputed_is_located():
    _add(5)
    text = '{"n":99}'
    raw(
        "UPDATE evidence_entry SET payload = %s, payload_sha256 = %s WHERE seq = 3",
        [text, payload_digest(text)],
    )
    run = chain_verify()
    assert _problems(run) == [("hash", 3)]


@pytest.mark.django_db
def test_entry_rewritten_consistently_breaks_the_next_link():
    entries = _add(5)
    forged = entries[2].header()
    forged["payload_sha256"] = payload_digest('{"n":99}')
    new_hash = entry_hash(forged)
    raw(
        "UPDATE evidence_entry SET payload = %s, payload_sha256 = %s, hash = %s WHERE seq = 3",
        ['{"n":99}', forged["payload_sha256"], new_hash],
    )
    run = chain_verify()
    assert _problems(run) == [("link", 4)]
    assert "第 3 条" in run.problems[0]["message"]


@pytest.mark.django_db
def test_deleted_entry_is_located():
    _add(5)
    raw("DELETE FROM evidence_entry WHERE seq = 3")
    run = chain_verify()
    assert ("sequence", 4) in _problems(run) and ("link", 4) in _problems(run)
    assert any("第 3 至 3 条缺失" in p["message"] for p in run.problems)


@pytest.mark.django_db
def test_deleted_last_entry_is_found_from_the_head():
    _add(4)
    raw("DELETE FROM evidence_entry WHERE seq = 4")
    run = chain_verify()
    assert run.result == "broken" and _problems(run) == [("link", 4)]
    assert "末尾的记录被删除" in run.problems[0]["message"]


@pytest.mark.django_db
def test_reordered_entries_are_located():
    _add(5)
    raw("UPDATE evidence_entry SET seq = 1000 WHERE seq = 2")
    raw("UPDATE evidence_entry SET seq = 2 WHERE seq = 3")
    raw("UPDATE evidence_entry SET seq = 3 WHERE seq = 1000")
    run = chain_verify()
    assert run.first_bad_seq == 2
    assert {("hash", 2), ("hash", 3), ("link", 2)} <= set(_problems(run))


@pytest.mark.django_db
def test_history_rewritten_after_a_checkpoint_contradicts_it():
    """An attacker who rewrites an entry and every hash after it keeps the chain consistent — but
    not with the checkpoint recorded (and sent out) before."""
    _add(3)
    cp = checkpoint_create(actor=SYSTEM)
    _add(2)
    rows = list(Entry.objects.order_by("seq"))
    prev = rows[0].hash
    for row in rows[1:]:
        header = row.header()
        if row.seq == 2:
            row.payload = canonical({"n": 1, "text": "员工从未确认"}).decode()
            header["payload_sha256"] = payload_digest(row.payload)
        header["prev"] = prev
        header["stream_prev"] = row.stream_prev
        header["hash"] = entry_hash(header)
        raw(
            "UPDATE evidence_entry SET payload = %s, payload_sha256 = %s, prev = %s, hash = %s WHERE seq = %s",
            [row.payload, header["payload_sha256"], prev, header["hash"], row.seq],
        )
        prev = header["hash"]
    Head.objects.filter(pk=1).update(hash=prev)
    run = chain_verify()
    assert _problems(run) == [("checkpoint", cp.seq)]
    assert "校验点" in run.problems[0]["message"] and "历史被改写" in run.problems[0]["message"]


@pytest.mark.django_db
def test_verification_reads_only_what_it_needs(django_assert_max_num_queries):
    _add(30)
    with django_assert_max_num_queries(10):
        assert chain_verify().result == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_case_walk_leaves_its_evidence(org, make_employee, admin):
    """The seed story's events are all in the chain, with the hashes that prove them."""
    from shebao.cases.services import (
        ack_resolve,
        ack_submit,
        ack_token,
        ack_verify,
        case_open,
        letter_issue,
        letter_send,
    )
    from shebao.cases.testing.factories import medical_finding
    from shebao.core import crypto
    from shebao.notify.services import channel_create, notifications_flush
    from shebao.notify.testing.smtp import SmtpServer
    from shebao.roster.models import ID_PURPOSE

    hr = Actor(user=admin)
    with SmtpServer() as server:
        channel_create(
            actor=Actor.system(),
            kind="email",
            name="员工邮箱",
            config={"host": server.host, "port": server.port, "security": "none", "from": "hr@example.com"},
            for_people=True,
        )
        finding = medical_finding(org, make_employee, email="wang@example.com")
        case = case_open(actor=hr, finding=finding)
        letter = letter_issue(actor=hr, case=case)
        request = letter_send(actor=hr, letter=letter)
        notifications_flush()
        resolved = ack_resolve(ack_token(request))
        number = crypto.decrypt(case.employee.id_number_enc, purpose=ID_PURPOSE)
        ack_verify(request=resolved.request, value=number[-4:], ip="10.0.0.8")
        ack_submit(
            request=resolved.request,
            decision="acknowledged",
            shown_sha256=letter.sha256,
            ip="10.0.0.8",
            user_agent="Mozilla/5.0 (iPhone)",
        )
    entries = list(Entry.objects.filter(case_id=case.pk).order_by("seq"))
    kinds = [e.kind for e in entries]
    assert kinds[:2] == ["case.opened", "status.checked"]
    for kind in (
        "case.letter_issued",
        "case.letter_sent",
        "delivery.attempt",
        "case.identity",
        "case.acknowledged",
    ):
        assert kind in kinds, kind
    issued = json.loads(next(e for e in entries if e.kind == "case.letter_issued").payload)
    assert issued["letter"]["sha256"] == letter.sha256 and issued["letter"]["number"] == letter.number
    delivery = json.loads(next(e for e in entries if e.kind == "delivery.attempt").payload)
    assert delivery["ok"] is True and delivery["letter"] == letter.number and "@" in delivery["address"]
    acked = json.loads(next(e for e in entries if e.kind == "case.acknowledged").payload)
    assert acked["data"]["document_sha256"] == letter.sha256 and acked["data"]["ip"] == "10.0.0.8"
    check = json.loads(entries[1].payload)
    assert check["finding"]["kind"] == "medical_interrupted"
    assert check["sources"] and all(len(s["file_sha256"] or "") in (0, 64) for s in check["sources"])
    assert number not in entries[1].payload  # the ID number only masked
    # every entry about this employee links into their own chain, and the whole chain verifies
    stream = list(Entry.objects.filter(stream=f"e{case.employee_id}").order_by("seq"))
    assert stream[0].stream_prev == GENESIS
    assert all(b.stream_prev == a.hash for a, b in zip(stream, stream[1:], strict=False))
    assert chain_verify().result == "ok"


@pytest.mark.django_db
def test_bulk_append_links_like_one_by_one():
    from shebao.evidence.services import entries_append_many

    (a,) = _add(1, employee_id=5)
    count = entries_append_many(
        [
            {"kind": "finding.opened", "payload": {"n": 1}, "employee_id": 5},
            {"kind": "finding.opened", "payload": {"n": 2}, "employee_id": 6},
            {"kind": "finding.opened", "payload": {"n": 3}},
            {"kind": "finding.opened", "payload": {"n": 4}, "employee_id": 5},
        ],
        actor=SYSTEM,
    )
    (last,) = _add(1, employee_id=6)
    rows = list(Entry.objects.order_by("seq"))
    assert count == 4 and [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[1].stream_prev == a.hash and rows[4].stream_prev == rows[1].hash
    assert rows[2].stream_prev == GENESIS and last.stream_prev == rows[2].hash
    assert all(entry_hash(r.header()) == r.hash for r in rows)
    assert chain_verify().result == "ok"


@pytest.mark.django_db
def test_findings_opened_by_an_evaluation_are_in_the_chain(org, make_employee):
    from shebao.cases.testing.factories import medical_finding

    finding = medical_finding(org, make_employee)
    entry = Entry.objects.get(kind="finding.opened", employee_id=finding.employee_id)
    payload = json.loads(entry.payload)
    assert payload["key"] == finding.key and payload["kind"] == "medical_interrupted"
    assert payload["title"] == finding.title and payload["digest"] == finding.digest  # the facts' SHA-256
    assert entry.stream == f"e{finding.employee_id}"
    assert chain_verify().result == "ok"


@pytest.mark.django_db
def test_applied_government_data_is_in_the_chain(org, tmp_path):
    """A file applied to the contribution ledger leaves its SHA-256 in the chain; a duplicate
    file, which changes nothing, leaves nothing."""
    import hashlib

    from shebao.ledger.services import ledger_file_ingest

    path = tmp_path / "202510_社保缴费明细.csv"
    path.write_text(
        "姓名,证件号码,费款所属期,险种,缴费基数,单位缴费,个人缴费,缴费状态\n"
        "张三,110105199003070033,202510,企业职工基本养老保险,10000,1600,800,已实缴\n",
        encoding="utf-8",
    )

    def ingest():
        return ledger_file_ingest(entity=org["bj"], path=path, filename=path.name, source="cli", actor=SYSTEM)

    run = ingest()
    assert run.status == "succeeded", run.errors
    entry = Entry.objects.get(kind="source.applied")
    payload = json.loads(entry.payload)
    assert (
        payload["run"] == run.pk and payload["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert entry.entity_id == org["bj"].pk and entry.subject == f"run:{run.pk}"
    assert ingest().status == "duplicate"  # the same file again
    assert Entry.objects.filter(kind="source.applied").count() == 1
