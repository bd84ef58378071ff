"""The demo's evidence: `shebao seed --demo-users --ledger-months` closes a medical-interruption and
an onboarding case through the real services (letter sent by SMS to the demo sink, opened, code
confirmed, acknowledged with a photo; HR's receipt and payment), ends with a checkpoint — the
chain verifies and a closed case's bundle verifies on its own, and says what changed when a byte
of it is altered."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.core.management import call_command

from shebao.cases.models import Case, Letter
from shebao.evidence.models import Checkpoint, Entry

AS_OF = dt.date(2026, 11, 27)


def _payload(entry: Entry) -> dict:
    return json.loads(entry.payload)


@pytest.mark.django_db
def test_demo_closed_cases_have_their_evidence_and_a_bundle_that_verifies(settings, tmp_path):
    from shebao.accounts.models import User
    from shebao.core.context import Actor
    from shebao.demo.notify import SMS_CHANNEL_NAME, SMS_SINK_PORT
    from shebao.evidence.bundle import bundle_build
    from shebao.evidence.services import chain_verify
    from shebao.evidence.verifier import verify_bundle
    from shebao.notify.models import Channel
    from shebao.notify.smssink import sms_messages

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    settings.SHEBAO_SMS_SINK_DIR = sms = tmp_path / "sms"
    out = io.StringIO()
    call_command("seed", employees=400, seed=7, as_of=AS_OF, ledger_months=12, demo_users=True, stdout=out)

    closed = {
        c.template.code: c for c in Case.objects.filter(status=Case.Status.CLOSED).select_related("template")
    }
    assert {"medical_interruption", "onboarding"} <= set(closed), out.getvalue()
    for case in closed.values():
        letter = case.letters.get()
        assert letter.status == Letter.Status.ACKNOWLEDGED and letter.sent_at is not None
        ack = letter.acknowledgements.get()
        assert (ack.method, ack.document_sha256, ack.decision) == ("sms_otp", letter.sha256, "acknowledged")
        upload = case.attachments.get(by_employee=True)
        assert upload.acknowledgement == ack and upload.content_type == "image/png"
        assert case.finding is not None and case.finding.kind  # opened from a real finding
    medical = closed["medical_interruption"]
    receipt = medical.attachments.get(by_employee=False)
    assert receipt.content_type == "application/pdf" and receipt.filename.startswith("补缴回单")
    assert medical.data["payment"]["amount"] and medical.data["payment"]["reference"]

    # Each step is in the ledger, in the order it happened, with the hashes of what it concerns.
    entries = list(Entry.objects.filter(case_id=medical.pk).order_by("seq"))
    kinds = [e.kind for e in entries]
    for before, after in [
        ("status.checked", "case.letter_issued"),
        ("case.letter_issued", "case.letter_sent"),
        ("case.letter_sent", "delivery.attempt"),
        ("delivery.attempt", "case.letter_opened"),
        ("case.letter_opened", "case.identity"),
        ("case.identity", "case.acknowledged"),
        ("case.acknowledged", "case.attachment"),
        ("case.attachment", "case.closed"),
    ]:
        assert before in kinds and after in kinds and kinds.index(before) < kinds.index(after), kinds
    letter = medical.letters.get()
    issued = next(e for e in entries if e.kind == "case.letter_issued")
    assert _payload(issued)["letter"]["sha256"] == letter.sha256
    uploads = {_payload(e)["attachment"]["sha256"] for e in entries if e.kind == "case.attachment"}
    assert uploads == set(medical.attachments.values_list("sha256", flat=True))
    sent = [_payload(e) for e in entries if e.kind == "delivery.attempt"]
    assert sent and all(p["ok"] and p["channel_kind"] == "sms_aliyun" for p in sent)
    done = [_payload(e) for e in entries if e.kind == "case.step_done"]
    assert any(p["data"].get("payment") == medical.data["payment"] for p in done)

    # The texts reached the demo's phones (the sink's folder) and the channel points at its port again.
    texts = [m["text"] for m in sms_messages(directory=sms, limit=100)]
    assert any("验证码" in t for t in texts) and any("/a/s/" in t for t in texts)
    channel = Channel.objects.get(name=SMS_CHANNEL_NAME)
    assert channel.config["endpoint"] == f"http://127.0.0.1:{SMS_SINK_PORT}"

    # Seeding ends with the key named in the chain and a checkpoint of its head.
    checkpoint = Checkpoint.objects.get()
    assert Entry.objects.filter(kind="key.created").exists()
    assert Entry.objects.get(seq=checkpoint.seq).kind == "chain.checkpoint"
    assert checkpoint.seq == Entry.objects.order_by("-seq").values_list("seq", flat=True).first()
    run = chain_verify(via="test")
    assert run.result == "ok", run.problems
    assert run.entries == Entry.objects.count() and run.checkpoints == 1

    # A new user exports the closed case's bundle: it verifies without the database …
    hr = Actor(user=User.objects.get(username="demo"))
    bundle = bundle_build(actor=hr, case=medical)
    path = tmp_path / bundle.filename
    path.write_bytes(bundle.data)
    report = verify_bundle(path)
    assert report.ok, [p.message for p in report.problems]
    assert report.signature == "valid" and report.entries == bundle.entry_count
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert f"letters/{letter.number}.pdf" in names and any(n.startswith("attachments/") for n in names)
        members = {n: zf.read(n) for n in names}

    # … and says which file changed when one byte of the employee's photo is altered.
    photo = next(n for n in names if n.startswith("attachments/") and n.endswith(".png"))
    data = bytearray(members[photo])
    data[-20] ^= 0x01
    members[photo] = bytes(data)
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(altered, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    report = verify_bundle(altered)
    assert not report.ok
    assert [(p.code, p.path) for p in report.problems] == [("file_changed", photo)]
