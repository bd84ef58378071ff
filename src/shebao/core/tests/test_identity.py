from __future__ import annotations

import datetime

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from stdnum.cn import ric

from shebao.core.identity import (
    ID_KIND_CHOICES,
    IdentityError,
    IdKind,
    make_legacy15_id,
    make_resident_id,
    mask_identity,
    mask_phone,
    normalize_phone,
    normalize_text,
    parse_identity,
    resident_check_digit,
)

D = datetime.date
GOOD = "11010519491231002X"
TODAY = D(2025, 6, 1)


def iso7064_mod11_2(first17: str) -> str:
    """Independent implementation of the GB 11643 check digit, so the tests do not just mirror stdnum."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]


def with_check(first17: str) -> str:
    return first17 + iso7064_mod11_2(first17)


def fail(raw: str | None, kind: IdKind | str | None = None, **kw: D) -> IdentityError:
    with pytest.raises(IdentityError) as info:
        parse_identity(raw, kind, **kw)
    assert str(info.value) == info.value.message
    return info.value


# --- resident ID -------------------------------------------------------------------------------


def test_known_good_resident_id() -> None:
    assert ric.is_valid(GOOD)
    ident = parse_identity(GOOD)
    assert ident.kind is IdKind.RESIDENT
    assert ident.number == ident.original == GOOD
    assert ident.birth_date == D(1949, 12, 31)
    assert ident.gender == "F"  # 17th digit 2 is even
    assert ident.upgraded_from_15 is False
    assert ident.masked == "110105********002X"


def test_check_digit_agrees_with_stdnum_and_independent_implementation() -> None:
    assert resident_check_digit(GOOD[:17]) == "X" == iso7064_mod11_2(GOOD[:17])
    assert resident_check_digit("11010519800101001") == iso7064_mod11_2("11010519800101001")
    with pytest.raises(IdentityError):
        resident_check_digit("1101051980010100")


@pytest.mark.parametrize(
    "first17",
    ["11010519491231002", "44030519900307123", "31010420000229456", "65010219750815009"],
)
def test_bad_checksum_names_expected_digit(first17: str) -> None:
    expected = iso7064_mod11_2(first17)
    wrong = "0" if expected != "0" else "1"
    err = fail(first17 + wrong)
    assert err.code == "checksum"
    assert err.message == f"身份证号校验位错误：应为 {expected}"


def test_checksum_message_example_seven() -> None:
    first17 = next(
        f"1101051980010100{d}" for d in "0123456789" if iso7064_mod11_2(f"1101051980010100{d}") == "7"
    )
    assert fail(first17 + "3").message == "身份证号校验位错误：应为 7"


@pytest.mark.parametrize(
    "raw",
    [
        "１１０１０５ １９４９１２３１ ００２ｘ",
        "11010519491231002x",
        " 110105-19491231-002X ",
        "110105\u300019491231\xa0002X\n",
        "110105.19491231_002X",
        "110105—19491231－002X",
    ],
)
def test_full_width_and_separators_normalise(raw: str) -> None:
    assert parse_identity(raw).number == GOOD


def test_legacy_15_digit_upgrade() -> None:
    legacy = make_legacy15_id("110105", D(1949, 12, 31), 2)
    assert legacy == "110105491231002"
    ident = parse_identity(legacy)
    assert ident.number == make_resident_id("110105", D(1949, 12, 31), 2) == GOOD
    assert ident.upgraded_from_15 is True
    assert ident.original == legacy
    assert ident.birth_date == D(1949, 12, 31)
    assert ident.gender == "F"
    assert parse_identity(legacy, IdKind.RESIDENT).number == GOOD


def test_make_legacy15_rejects_non_19xx() -> None:
    with pytest.raises(IdentityError) as info:
        make_legacy15_id("110105", D(2001, 1, 1), 1)
    assert info.value.code == "birth_date"


@pytest.mark.parametrize(
    ("raw", "kind", "message", "code"),
    [
        (None, None, "证件号码为空", "empty"),
        ("  \u3000 -", None, "证件号码为空", "empty"),
        ("", IdKind.PASSPORT, "证件号码为空", "empty"),
        ("1101051949123100", None, "身份证号应为18位（或15位旧号），实际为16位", "length"),
        ("11010519491231002X1", IdKind.RESIDENT, "身份证号应为18位（或15位旧号），实际为19位", "length"),
        ("11010519491231O02X", None, "身份证号只能包含数字，最后一位可为X（第15位“O”不是数字）", "format"),
        ("11010519491231002Y", None, "身份证号只能包含数字，最后一位可为X（第18位“Y”不是数字或X）", "format"),
        ("11010549123100A", IdKind.RESIDENT, "15位旧身份证号只能包含数字（第15位“A”不是数字）", "format"),
        (with_check("19123419900101001"), None, "身份证号前6位地址码无效：“191234”", "area"),
        ("191234491231002", None, "15位旧身份证号前6位地址码无效：“191234”", "area"),
        (with_check("11010519990231001"), None, "身份证号中的出生日期无效：“19990231”", "birth_date"),
        (with_check("11010518991231001"), None, "身份证号中的出生日期早于1900年：“18991231”", "birth_date"),
        (with_check("11010520250602001"), None, "身份证号中的出生日期晚于今天：“20250602”", "birth_date"),
        ("110105990231001", None, "15位旧身份证号中的出生日期无效：“990231”", "birth_date"),
        ("ABC", None, "无法识别证件类型：请选择证件类型（护照等）", "kind"),
        ("E12345678", None, "无法识别证件类型：请选择证件类型（护照等）", "kind"),
        ("12345678", None, "无法识别证件类型：请选择证件类型（护照等）", "kind"),
        (GOOD, "驾驶证", "未知的证件类型：“驾驶证”", "kind"),
    ],
)
def test_error_messages(raw: str | None, kind: IdKind | str | None, message: str, code: str) -> None:
    err = fail(raw, kind, today=TODAY)
    assert (err.message, err.code) == (message, code)


def test_birth_today_is_accepted() -> None:
    number = make_resident_id("110105", TODAY, 1)
    assert parse_identity(number, today=TODAY).birth_date == TODAY
    assert fail(number, today=TODAY - datetime.timedelta(days=1)).code == "birth_date"


def test_explicit_resident_accepts_hmt_style_area() -> None:
    number = make_resident_id("810000", D(1990, 5, 17), 123)
    assert parse_identity(number, "身份证").kind is IdKind.RESIDENT


# --- other kinds --------------------------------------------------------------------------------


def test_hmt_residence() -> None:
    number = make_resident_id("810000", D(1990, 5, 17), 123)
    ident = parse_identity(number)
    assert (ident.kind, ident.birth_date, ident.gender) == (IdKind.HMT_RESIDENCE, D(1990, 5, 17), "M")
    assert parse_identity(make_resident_id("830000", D(1990, 5, 17), 4)).kind is IdKind.HMT_RESIDENCE
    err = fail(GOOD, IdKind.HMT_RESIDENCE)
    assert err.code == "area"
    assert (
        err.message
        == "港澳台居民居住证号码前6位地址码无效：应为810000（香港）、820000（澳门）或830000（台湾），实际为“110105”"
    )
    assert fail(make_resident_id("810101", D(1990, 5, 17), 1), IdKind.HMT_RESIDENCE).code == "area"
    assert fail("810000199005171", IdKind.HMT_RESIDENCE).message == "港澳台居民居住证号码应为18位，实际为15位"
    assert fail(with_check("81000019900231123")).message == "港澳台居民居住证号码中的出生日期无效：“19900231”"
    bad = number[:17] + ("0" if number[17] != "0" else "1")
    assert fail(bad).message == f"港澳台居民居住证号码校验位错误：应为 {number[17]}"


def test_foreign_permanent_new_format() -> None:
    number = make_resident_id("911840", D(1985, 3, 12), 12)
    ident = parse_identity(number)
    assert (ident.kind, ident.birth_date, ident.gender) == (IdKind.FOREIGN_PERMANENT, D(1985, 3, 12), "F")
    bad = number[:17] + ("0" if number[17] != "0" else "1")
    assert fail(bad).message == f"外国人永久居留身份证号码校验位错误：应为 {number[17]}"
    err = fail(GOOD, "永久居留证")
    assert (err.code, err.message) == ("area", "外国人永久居留身份证号码（2023年新版）应以9开头，实际为“1”")
    assert fail("USA3185031200", IdKind.FOREIGN_PERMANENT).message == (
        "外国人永久居留身份证号码应为18位（2023年新版）或15位（旧版），实际为13位"
    )


def test_foreign_permanent_old_format() -> None:
    ident = parse_identity("usa 31 850312 0012")
    assert (ident.kind, ident.number) == (IdKind.FOREIGN_PERMANENT, "USA318503120012")
    assert (ident.birth_date, ident.gender, ident.upgraded_from_15) == (D(1985, 3, 12), None, False)
    # Two-digit years: 20yy unless that lies in the future.
    assert parse_identity("USA310503120012", today=TODAY).birth_date == D(2005, 3, 12)
    assert parse_identity("USA312503120012", today=D(2025, 1, 1)).birth_date == D(1925, 3, 12)
    err = fail("USA318502300012")
    assert (err.code, err.message) == ("birth_date", "外国人永久居留身份证号码中的出生日期无效：“850230”")
    err = fail("US1318503120012", IdKind.FOREIGN_PERMANENT)
    assert (err.code, err.message) == (
        "format",
        "旧版外国人永久居留身份证号码格式无效：应为3位国籍字母代码加12位数字",
    )


def test_passport() -> None:
    ident = parse_identity("e1234 5678", IdKind.PASSPORT)
    assert (ident.kind, ident.number, ident.birth_date, ident.gender) == (
        IdKind.PASSPORT,
        "E12345678",
        None,
        None,
    )
    assert parse_identity("12345", "护照").number == "12345"
    assert fail("AB12", "passport").message == "护照号码格式无效：应为5至20位字母或数字，实际为4位"
    assert fail("A" * 20 + "1", "passport").code == "length"
    assert fail("E1234/5678", "passport").message == "护照号码格式无效：应为5至20位字母或数字（第6位“/”无效）"
    assert fail("ABCDEFG", "passport").message == "护照号码格式无效：至少应包含1位数字"


def test_hk_macau_permit() -> None:
    assert parse_identity("h 1234 5678").kind is IdKind.HK_MACAU_PERMIT
    assert parse_identity("M1234567890").number == "M1234567890"
    assert parse_identity("H12345678", "回乡证").birth_date is None
    for bad in ("H1234567", "H123456789", "K12345678"):
        err = fail(bad, IdKind.HK_MACAU_PERMIT)
        assert err.message == "港澳居民来往内地通行证号码格式无效：应为H或M开头加8位或10位数字"


def test_taiwan_permit() -> None:
    assert parse_identity("1234 5678", "台胞证").number == "12345678"
    assert parse_identity("1234567890", IdKind.TAIWAN_PERMIT).kind is IdKind.TAIWAN_PERMIT
    for bad in ("1234567", "123456789", "T1234567"):
        assert fail(bad, "taiwan_permit").message == "台湾居民来往大陆通行证号码格式无效：应为8位或10位数字"


# --- IdKind ---------------------------------------------------------------------------------------


def test_kind_labels_and_lookup() -> None:
    assert ID_KIND_CHOICES[0] == ("resident_id", "居民身份证")
    assert len(ID_KIND_CHOICES) == len(IdKind) == 6
    assert str(IdKind.PASSPORT) == "passport"
    aliases = {
        "居民身份证": IdKind.RESIDENT,
        "身份证": IdKind.RESIDENT,
        "港澳台居民居住证": IdKind.HMT_RESIDENCE,
        "外国人永久居留身份证": IdKind.FOREIGN_PERMANENT,
        "永久居留证": IdKind.FOREIGN_PERMANENT,
        "护照": IdKind.PASSPORT,
        "港澳居民来往内地通行证": IdKind.HK_MACAU_PERMIT,
        "回乡证": IdKind.HK_MACAU_PERMIT,
        "台湾居民来往大陆通行证": IdKind.TAIWAN_PERMIT,
        "台胞证": IdKind.TAIWAN_PERMIT,
        " hk_macau_permit ": IdKind.HK_MACAU_PERMIT,
        "PASSPORT": IdKind.PASSPORT,
    }
    for value, kind in aliases.items():
        assert IdKind.from_value(value) is kind
    for kind in IdKind:
        assert IdKind.from_value(kind.value) is kind
        assert IdKind.from_value(kind.label) is kind
    with pytest.raises(IdentityError) as info:
        IdKind.from_value("军官证")
    assert (info.value.code, info.value.message) == ("kind", "未知的证件类型：“军官证”")


# --- phone ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("１３８ ００１３ ８０００", "13800138000"),
        ("138.0013.8000", "13800138000"),
        ("010-12345678", "010-12345678"),
        ("(0755)12345678", "0755-12345678"),
        ("（0755）1234567", "0755-1234567"),
        ("02112345678", "021-12345678"),
        ("+86 10 1234 5678", "010-12345678"),
        ("+86 (0)755 1234 5678", "0755-12345678"),
    ],
)
def test_normalize_phone(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["12345678901", "1380013800", "138001380001", "abc", "+1 415 555 0100", "010-123456", "0755-123456789"],
)
def test_normalize_phone_rejects(raw: str) -> None:
    with pytest.raises(IdentityError) as info:
        normalize_phone(raw)
    assert info.value.code == "phone"
    assert info.value.message == f"手机号码格式无效：“{raw}”"


@pytest.mark.parametrize("raw", [None, "", " - "])
def test_normalize_phone_empty(raw: str | None) -> None:
    with pytest.raises(IdentityError) as info:
        normalize_phone(raw)
    assert (info.value.code, info.value.message) == ("phone", "手机号码为空")


# --- masking --------------------------------------------------------------------------------------


def test_masking() -> None:
    assert mask_identity("110105 19491231 002x", "resident_id") == "110105********002X"
    assert (
        mask_identity(make_resident_id("810000", D(1990, 5, 17), 123), IdKind.HMT_RESIDENCE).count("*") == 8
    )
    assert mask_identity("E1234578", IdKind.PASSPORT) == "E1****78"
    assert mask_identity("H12345678", "回乡证") == "H1*****78"
    assert mask_identity("ABCDE", "passport") == "AB*DE"
    assert mask_identity("ABCD", "passport") == "A**D"
    assert mask_identity("AB", "passport") == "**"
    assert mask_identity("", "passport") == ""
    assert mask_identity("110105491231002", IdKind.RESIDENT) == "11***********02"
    assert (
        mask_identity(GOOD, "no-such-kind") == "11**************2X"
    )  # stored data with a bad kind must not crash
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("+86 138-0013-8000") == "138****8000"
    assert mask_phone("0755-12345678") == "0755-******78"
    assert mask_phone("010-1234567") == "010-*****67"
    assert mask_phone("abc") == "a*c".upper()


# --- properties -----------------------------------------------------------------------------------

AREAS = ["110105", "120101", "310104", "440305", "510107", "650102", "810000", "820000", "830000"]
births = st.dates(min_value=D(1930, 1, 1), max_value=D(2008, 12, 31))
seqs = st.integers(min_value=0, max_value=999)
valid_ids = st.builds(make_resident_id, st.sampled_from(AREAS), births, seqs)
FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789Xx"}


@given(st.sampled_from(AREAS), births, seqs)
def test_generated_ids_round_trip(area: str, birth: D, seq: int) -> None:
    number = make_resident_id(area, birth, seq)
    assert number[17] == iso7064_mod11_2(number[:17]) == ric.calc_check_digit(number)
    ident = parse_identity(number)
    expected_kind = IdKind.HMT_RESIDENCE if area.startswith("8") else IdKind.RESIDENT
    assert (ident.kind, ident.number, ident.birth_date) == (expected_kind, number, birth)
    assert ident.gender == ("M" if seq % 2 else "F")
    assert ident.upgraded_from_15 is False


@given(st.sampled_from(AREAS[:6]), st.dates(min_value=D(1900, 1, 1), max_value=D(1999, 12, 31)), seqs)
def test_legacy_ids_upgrade_to_generated_id(area: str, birth: D, seq: int) -> None:
    ident = parse_identity(make_legacy15_id(area, birth, seq))
    assert ident.number == make_resident_id(area, birth, seq)
    assert ident.upgraded_from_15 and ident.birth_date == birth
    assert ident.gender == ("M" if seq % 2 else "F")


@given(st.text())
@example("\u0390")  # upper() yields a decomposed sequence NFKC would recompose
@example("e.\u0301")  # removing the separator lets NFKC compose e + acute
@example("A\u200b\u0301")
def test_normalize_is_idempotent(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once
    assert not any(c.isspace() or c in "-_." for c in once)


@given(valid_ids, st.integers(min_value=0, max_value=16), st.sampled_from("0123456789"))
def test_single_digit_substitution_is_rejected(number: str, pos: int, digit: str) -> None:
    assume(number[pos] != digit)
    mutated = number[:pos] + digit + number[pos + 1 :]
    for kind in (None, IdKind.RESIDENT):
        with pytest.raises(IdentityError) as info:
            parse_identity(mutated, kind)
        assert info.value.code in {"checksum", "birth_date", "area"}


@given(valid_ids, st.data())
def test_whitespace_and_full_width_do_not_change_number(number: str, data: st.DataObject) -> None:
    pieces = []
    for char in number:
        if data.draw(st.booleans()):
            char = FULL_WIDTH[char]
        pieces.append(char + data.draw(st.sampled_from(["", "", " ", "\u3000", "\xa0", "\t", "-", "－"])))
    if number.endswith("X") and data.draw(st.booleans()):
        pieces[-1] = pieces[-1].replace("X", "x").replace("Ｘ", "ｘ")
    assert parse_identity("".join(pieces)).number == number


@given(valid_ids)
def test_mask_hides_birth_date(number: str) -> None:
    masked = mask_identity(number, IdKind.RESIDENT)
    assert masked[6:14] == "*" * 8 and len(masked) == 18
    assert number[6:14] not in masked
    assert masked[:6] == number[:6] and masked[-4:] == number[-4:]


@given(st.text(), st.sampled_from([None, *IdKind]))
def test_parse_only_raises_identity_error(raw: str, kind: IdKind | None) -> None:
    try:
        ident = parse_identity(raw, kind)
    except IdentityError as exc:
        assert exc.message and exc.code
    else:
        assert ident.number == normalize_text(ident.number)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "+86 ", "0086", "86"]))
def test_mobile_numbers_normalise_and_mask(mobile: str, prefix: str) -> None:
    spaced = f"{prefix}{mobile[:3]} {mobile[3:7]}-{mobile[7:]}"
    assert normalize_phone(spaced) == mobile
    assert mask_phone(spaced) == f"{mobile[:3]}****{mobile[-4:]}"
