"""The English catalogue: complete, compiled, and actually served when English is chosen.

The UI's source language is Simplified Chinese (the msgids); English is the translation in
``locale/en/LC_MESSAGES``. Chinese stays the default for anyone who has not picked English.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale" / "en" / "LC_MESSAGES"
PO_PATH = LOCALE_DIR / "django.po"
MO_PATH = LOCALE_DIR / "django.mo"

# Navigation labels that must not survive in the English UI.
CHINESE_NAV = ["工作台", "花名册", "审计日志", "社保合规助手", "退出"]


# --- a minimal .po reader (stdlib only) ----------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def key(self) -> str:
        """The key gettext uses in a compiled catalogue."""
        return f"{self.msgctxt}\x04{self.msgid}" if self.msgctxt is not None else self.msgid


def parse_po(path: Path) -> tuple[Entry, list[Entry]]:
    """Return (header, entries); obsolete ``#~`` entries are ignored."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None
    pending_flags: set[str] = set()

    def finish():
        nonlocal current
        if current is not None:
            entries.append(current)
        current = None

    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if not line:
                finish()
                target = None
            continue
        if line.startswith("#,"):
            finish()
            pending_flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            continue
        if line.startswith("#"):
            finish()
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.startswith('"'):
            assert target is not None and current is not None, f"{path}:{n}: stray continuation line"
            value = ast.literal_eval(line)
            name, index = target
            if name == "msgstr":
                current.msgstr[index] += value
            else:
                setattr(current, name, getattr(current, name) + value)
            continue
        value = ast.literal_eval(rest)
        if keyword in ("msgctxt", "msgid") and current is not None and current.msgstr:
            finish()
        if current is None:
            current = Entry(flags=pending_flags, line=n)
            pending_flags = set()
        if keyword in ("msgctxt", "msgid", "msgid_plural"):
            setattr(current, keyword, value)
            target = (keyword, None)
        elif keyword == "msgstr":
            current.msgstr[0] = value
            target = ("msgstr", 0)
        elif keyword.startswith("msgstr["):
            index = int(keyword[len("msgstr[") : -1])
            current.msgstr[index] = value
            target = ("msgstr", index)
        else:
            raise AssertionError(f"{path}:{n}: unexpected line {raw!r}")
    finish()
    header = next(e for e in entries if e.msgid == "" and e.msgctxt is None)
    return header, [e for e in entries if e is not header]


@pytest.fixture(scope="module")
def catalogue():
    return parse_po(PO_PATH)


def test_po_header(catalogue):
    header, _entries = catalogue
    fields = dict(line.split(": ", 1) for line in header.msgstr[0].splitlines() if ": " in line)
    assert fields["Language"] == "en"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"
    assert fields["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    assert "fuzzy" not in header.flags


def test_every_entry_is_translated_and_not_fuzzy(catalogue):
    _header, entries = catalogue
    assert len(entries) > 200  # the whole UI, not a stub
    problems = []
    for e in entries:
        if "fuzzy" in e.flags:
            problems.append(f"line {e.line}: fuzzy: {e.msgid!r}")
        expected = [0, 1] if e.msgid_plural is not None else [0]
        if sorted(e.msgstr) != expected:
            problems.append(
                f"line {e.line}: msgstr forms {sorted(e.msgstr)}, expected {expected}: {e.msgid!r}"
            )
        for index, text in e.msgstr.items():
            if not text.strip():
                problems.append(f"line {e.line}: empty msgstr[{index}]: {e.msgid!r}")
    assert not problems, "\n".join(problems)


def test_msgids_are_unique(catalogue):
    _header, entries = catalogue
    keys = [e.key for e in entries]
    assert len(keys) == len(set(keys))


def test_mo_is_in_sync_with_po(catalogue):
    _header, entries = catalogue
    assert MO_PATH.exists(), "run msgfmt to compile django.mo"
    with MO_PATH.open("rb") as fh:
        mo = gettext.GNUTranslations(fh)
    assert mo.info().get("language") == "en"
    assert mo.plural(1) == 0 and mo.plural(2) == 1 and mo.plural(0) == 1

    stale = []
    for e in entries:
        if e.msgid_plural is None:
            got = mo.pgettext(e.msgctxt, e.msgid) if e.msgctxt is not None else mo.gettext(e.msgid)
            if got != e.msgstr[0]:
                stale.append(f"{e.msgid!r}: .mo has {got!r}, .po has {e.msgstr[0]!r}")
        else:
            for n, index in ((1, 0), (2, 1)):
                if e.msgctxt is not None:
                    got = mo.npgettext(e.msgctxt, e.msgid, e.msgid_plural, n)
                else:
                    got = mo.ngettext(e.msgid, e.msgid_plural, n)
                if got != e.msgstr[index]:
                    stale.append(f"{e.msgid!r}[{index}]: .mo has {got!r}, .po has {e.msgstr[index]!r}")
    # Nothing in the .mo that the .po no longer has.
    compiled = {k for k in mo._catalog if k and not isinstance(k, tuple)}
    compiled |= {k[0] for k in mo._catalog if isinstance(k, tuple)}
    compiled.discard("")
    extra = compiled - {e.key for e in entries}
    assert not stale, "django.mo is stale; recompile it:\n" + "\n".join(stale)
    assert not extra, f"django.mo has messages missing from django.po: {sorted(extra)}"


def test_placeholders_are_kept(catalogue):
    """msgfmt --check covers python-format entries; this also covers brace and HTML markup."""
    pattern = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}|</?[a-zA-Z][^>]*>")
    _header, entries = catalogue
    problems = []
    for e in entries:
        sources = [e.msgid] if e.msgid_plural is None else [e.msgid, e.msgid_plural]
        wanted = sorted(pattern.findall(sources[-1]))
        for text in e.msgstr.values():
            if sorted(pattern.findall(text)) != wanted:
                problems.append(f"{e.msgid!r} → {text!r}")
    assert not problems, "\n".join(problems)


# --- the running site ----------------------------------------------------------------------


@pytest.fixture
def roster_rows(make_employee):
    make_employee()
    make_employee()


def _assert_english(client: Client):
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    html = dashboard.content.decode()
    assert '<html lang="en">' in html
    for word in ("Dashboard", "Roster", "Audit log", "Employer entity", "Pending start", "Log out"):
        assert word in html, word
    for label in CHINESE_NAV:
        assert label not in html, label

    roster = client.get("/employees/")
    assert roster.status_code == 200
    html = roster.content.decode()
    for word in ("Roster", "Employee no.", "Employer entity", "Hire date", "Add employee", "2 employees"):
        assert word in html, word
    for label in CHINESE_NAV + ["工号", "参保主体", "新增员工"]:
        assert label not in html, label


@pytest.mark.django_db
def test_setlang_switches_to_english(admin, login, roster_rows):
    client = login(admin)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/employees/"})
    assert response.status_code == 302 and response.url == "/employees/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    _assert_english(client)


@pytest.mark.django_db
def test_language_cookie_selects_english(admin, login, roster_rows):
    client = login(admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert settings.LANGUAGE_COOKIE_NAME == "django_language"
    _assert_english(client)


@pytest.mark.django_db
@pytest.mark.parametrize("accept_language", [None, "zh-CN,zh;q=0.9"])
def test_default_is_chinese(admin, login, roster_rows, accept_language):
    client = login(admin)
    headers = {"Accept-Language": accept_language} if accept_language else {}
    for url, words in (
        ("/", ["工作台", "花名册", "审计日志", "参保主体"]),
        ("/employees/", ["花名册", "工号", "新增员工"]),
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        html = response.content.decode()
        assert '<html lang="zh-CN">' in html
        for word in words:
            assert word in html, (url, word)
        assert "Dashboard" not in html and "Roster" not in html


@pytest.mark.django_db
def test_switching_back_to_chinese(admin, login):
    client = login(admin)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Dashboard" in client.get("/").content.decode()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = client.get("/").content.decode()
    assert "工作台" in html and "Dashboard" not in html
