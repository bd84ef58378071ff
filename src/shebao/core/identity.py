"""Identity-document and phone numbers: normalisation, validation and masking.

Pure Python (no Django) so forms, importers, the API and the demo data generator share one implementation.
Every rejection is an ``IdentityError`` whose message tells the user exactly what is wrong.
"""

from __future__ import annotations

import datetime
import enum
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from stdnum.cn import ric

__all__ = [
    "ID_KIND_CHOICES",
    "IdKind",
    "Identity",
    "IdentityError",
    "make_legacy15_id",
    "make_resident_id",
    "mask_identity",
    "mask_phone",
    "normalize_phone",
    "normalize_text",
    "parse_identity",
    "resident_check_digit",
]


class IdentityError(ValueError):
    """Invalid identity or phone number; ``message`` is user-facing Chinese, ``code`` is for machines."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class IdKind(enum.StrEnum):
    # StrEnum (a str + Enum subclass): str() gives the stored value, which templates and form widgets need.
    RESIDENT = "resident_id"
    HMT_RESIDENCE = "hmt_residence"
    FOREIGN_PERMANENT = "foreign_permanent"
    PASSPORT = "passport"
    HK_MACAU_PERMIT = "hk_macau_permit"
    TAIWAN_PERMIT = "taiwan_permit"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def from_value(cls, value: IdKind | str) -> IdKind:
        """Accept the enum value, member name, Chinese label or a common short name (身份证, 回乡证, 台胞证…)."""
        if isinstance(value, cls):
            return value
        key = unicodedata.normalize("NFKC", str(value)).strip()
        kind = _KIND_LOOKUP.get(key) or _KIND_LOOKUP.get(key.lower())
        if kind is None:
            raise IdentityError(f"未知的证件类型：“{value}”", "kind")
        return kind


_LABELS: dict[IdKind, str] = {
    IdKind.RESIDENT: "居民身份证",
    IdKind.HMT_RESIDENCE: "港澳台居民居住证",
    IdKind.FOREIGN_PERMANENT: "外国人永久居留身份证",
    IdKind.PASSPORT: "护照",
    IdKind.HK_MACAU_PERMIT: "港澳居民来往内地通行证",
    IdKind.TAIWAN_PERMIT: "台湾居民来往大陆通行证",
}
_KIND_LOOKUP: dict[str, IdKind] = {
    **{k.value: k for k in IdKind},
    **{k.name.lower(): k for k in IdKind},
    **{label: k for k, label in _LABELS.items()},
    "身份证": IdKind.RESIDENT,
    "永久居留证": IdKind.FOREIGN_PERMANENT,
    "回乡证": IdKind.HK_MACAU_PERMIT,
    "台胞证": IdKind.TAIWAN_PERMIT,
}

ID_KIND_CHOICES: list[tuple[str, str]] = [(k.value, k.label) for k in IdKind]

# Kinds whose numbers follow GB 11643 (18 digits, birth date in digits 7-14, MOD 11-2 check digit).
_GB11643_KINDS = frozenset({IdKind.RESIDENT, IdKind.HMT_RESIDENCE, IdKind.FOREIGN_PERMANENT})


@dataclass(frozen=True)
class Identity:
    kind: IdKind
    number: str
    birth_date: datetime.date | None
    gender: str | None
    upgraded_from_15: bool
    original: str

    @property
    def masked(self) -> str:
        return mask_identity(self.number, self.kind)


# Unicode \s covers \u3000 and \xa0; zero-width characters arrive with numbers pasted from Excel and web pages.
_SEPARATORS = r"\s\-_.\u2010-\u2015\u2212\u200b-\u200d\u2060\ufeff"
_STRIP_RE = re.compile(f"[{_SEPARATORS}]")
_PHONE_STRIP_RE = re.compile(f"[{_SEPARATORS}()]")


def normalize_text(raw: str) -> str:
    """NFKC (full-width → half-width), drop whitespace and separators, upper-case. Idempotent; never raises."""
    if not raw:
        return ""
    text = str(raw)
    # NFKC, separator removal and upper() can each expose something another would change
    # (e.g. 'ΐ'.upper() is decomposed), so iterate to a fixed point; real input needs one round.
    for _ in range(8):
        new = _STRIP_RE.sub("", unicodedata.normalize("NFKC", text)).upper()
        if new == text:
            break
        text = new
    return text


_DIGITS = "0123456789"
# re.ASCII: \d would otherwise accept e.g. Arabic-Indic digits, which int() happily converts.
_FOREIGN_OLD_RE = re.compile(r"[A-Z]{3}\d{12}", re.ASCII)
_HK_MACAU_RE = re.compile(r"[HM]\d{8}(\d{2})?", re.ASCII)
_TAIWAN_RE = re.compile(r"\d{8}|\d{10}", re.ASCII)
_PASSPORT_CHAR_RE = re.compile(r"[A-Z0-9]", re.ASCII)
# Digit-led strings of ID-like length are almost certainly mistyped GB 11643 numbers: route them there so
# the user learns what is wrong (length, a letter O for a zero…) instead of "unknown kind".
_GB11643_LIKE_RE = re.compile(r"\d{6}[0-9A-Z]{8,13}", re.ASCII)
_MOBILE_RE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_LANDLINE_RE = re.compile(r"0\d{2,3}\d{7,8}", re.ASCII)

_PROVINCES = frozenset(
    [str(n) for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55))]
    + [str(n) for n in (*range(61, 66), 71, 81, 82, 83, 91)]
)
_HMT_AREAS = frozenset({"810000", "820000", "830000"})
_MIN_BIRTH = datetime.date(1900, 1, 1)

_RESIDENT = "身份证号"
_LEGACY15 = "15位旧身份证号"
_HMT = "港澳台居民居住证号码"
_FOREIGN = "外国人永久居留身份证号码"


def _err(message: str, code: str) -> IdentityError:
    return IdentityError(message, code)


def _first_non_digit(text: str) -> tuple[int, str] | None:
    return next(((i + 1, c) for i, c in enumerate(text) if c not in _DIGITS), None)


def _birth(name: str, digits: str, shown: str, today: datetime.date) -> datetime.date:
    """``digits`` is yyyymmdd; ``shown`` is what the user actually typed for it."""
    try:
        birth = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise _err(f"{name}中的出生日期无效：“{shown}”", "birth_date") from None
    if birth < _MIN_BIRTH:
        raise _err(f"{name}中的出生日期早于1900年：“{shown}”", "birth_date")
    if birth > today:
        raise _err(f"{name}中的出生日期晚于今天：“{shown}”", "birth_date")
    return birth


def _parse_gb11643(
    text: str, kind: IdKind, name: str, area_error: Callable[[str], str | None], today: datetime.date
) -> Identity:
    """Checks after the length: characters, address code, birth date, check digit — in that order."""
    bad = _first_non_digit(text[:17])
    if bad is None and text[17] not in _DIGITS + "X":
        bad = (18, text[17])
    if bad is not None:
        pos, char = bad
        what = "数字或X" if pos == 18 else "数字"
        raise _err(f"{name}只能包含数字，最后一位可为X（第{pos}位“{char}”不是{what}）", "format")
    if (message := area_error(text)) is not None:
        raise _err(message, "area")
    birth = _birth(name, text[6:14], text[6:14], today)
    expected = resident_check_digit(text[:17])
    if text[17] != expected:
        raise _err(f"{name}校验位错误：应为 {expected}", "checksum")
    gender = "M" if int(text[16]) % 2 else "F"
    return Identity(kind, text, birth, gender, upgraded_from_15=False, original=text)


def _resident_area_error(text: str) -> str | None:
    return None if text[:2] in _PROVINCES else f"{_RESIDENT}前6位地址码无效：“{text[:6]}”"


def _parse_resident(text: str, today: datetime.date) -> Identity:
    if len(text) == 18:
        return _parse_gb11643(text, IdKind.RESIDENT, _RESIDENT, _resident_area_error, today)
    if len(text) != 15:
        raise _err(f"{_RESIDENT}应为18位（或15位旧号），实际为{len(text)}位", "length")
    if (bad := _first_non_digit(text)) is not None:
        raise _err(f"{_LEGACY15}只能包含数字（第{bad[0]}位“{bad[1]}”不是数字）", "format")
    if text[:2] not in _PROVINCES:
        raise _err(f"{_LEGACY15}前6位地址码无效：“{text[:6]}”", "area")
    birth = _birth(_LEGACY15, "19" + text[6:12], text[6:12], today)
    first17 = text[:6] + "19" + text[6:]
    number = first17 + resident_check_digit(first17)
    gender = "M" if int(number[16]) % 2 else "F"
    return Identity(IdKind.RESIDENT, number, birth, gender, upgraded_from_15=True, original=text)


def _parse_hmt(text: str, today: datetime.date) -> Identity:
    if len(text) != 18:
        raise _err(f"{_HMT}应为18位，实际为{len(text)}位", "length")

    def area_error(t: str) -> str | None:
        if t[:6] in _HMT_AREAS:
            return None
        return f"{_HMT}前6位地址码无效：应为810000（香港）、820000（澳门）或830000（台湾），实际为“{t[:6]}”"

    return _parse_gb11643(text, IdKind.HMT_RESIDENCE, _HMT, area_error, today)


def _parse_foreign(text: str, today: datetime.date) -> Identity:
    if len(text) == 18:

        def prefix_error(t: str) -> str | None:
            return None if t[0] == "9" else f"{_FOREIGN}（2023年新版）应以9开头，实际为“{t[0]}”"

        return _parse_gb11643(text, IdKind.FOREIGN_PERMANENT, _FOREIGN, prefix_error, today)
    if len(text) != 15:
        raise _err(f"{_FOREIGN}应为18位（2023年新版）或15位（旧版），实际为{len(text)}位", "length")
    if not _FOREIGN_OLD_RE.fullmatch(text):
        raise _err(f"旧版{_FOREIGN}格式无效：应为3位国籍字母代码加12位数字", "format")
    # Old layout: nationality[0:3] region[3:5] birth yymmdd[5:11] sequence/check[11:15]; the check
    # character's algorithm is unpublished, so only structure and birth date are verified.
    yymmdd = text[5:11]
    for century in ("20", "19"):
        # A plausible working-age holder: 20yy unless that is in the future (a 2005 birth must not
        # become 1905, which would make the person look retired).
        try:
            birth = _birth(_FOREIGN, century + yymmdd, yymmdd, today)
        except IdentityError:
            continue
        return Identity(IdKind.FOREIGN_PERMANENT, text, birth, None, upgraded_from_15=False, original=text)
    raise _err(f"{_FOREIGN}中的出生日期无效：“{yymmdd}”", "birth_date")


def _parse_passport(text: str, today: datetime.date) -> Identity:
    base = "护照号码格式无效：应为5至20位字母或数字"
    if not 5 <= len(text) <= 20:
        raise _err(f"{base}，实际为{len(text)}位", "length")
    bad = next(((i + 1, c) for i, c in enumerate(text) if not _PASSPORT_CHAR_RE.fullmatch(c)), None)
    if bad is not None:
        raise _err(f"{base}（第{bad[0]}位“{bad[1]}”无效）", "format")
    if not any(c in _DIGITS for c in text):
        raise _err("护照号码格式无效：至少应包含1位数字", "format")
    return Identity(IdKind.PASSPORT, text, None, None, upgraded_from_15=False, original=text)


def _parse_hk_macau(text: str, today: datetime.date) -> Identity:
    if not _HK_MACAU_RE.fullmatch(text):
        raise _err("港澳居民来往内地通行证号码格式无效：应为H或M开头加8位或10位数字", "format")
    return Identity(IdKind.HK_MACAU_PERMIT, text, None, None, upgraded_from_15=False, original=text)


def _parse_taiwan(text: str, today: datetime.date) -> Identity:
    if not _TAIWAN_RE.fullmatch(text):
        raise _err("台湾居民来往大陆通行证号码格式无效：应为8位或10位数字", "format")
    return Identity(IdKind.TAIWAN_PERMIT, text, None, None, upgraded_from_15=False, original=text)


_PARSERS: dict[IdKind, Callable[[str, datetime.date], Identity]] = {
    IdKind.RESIDENT: _parse_resident,
    IdKind.HMT_RESIDENCE: _parse_hmt,
    IdKind.FOREIGN_PERMANENT: _parse_foreign,
    IdKind.PASSPORT: _parse_passport,
    IdKind.HK_MACAU_PERMIT: _parse_hk_macau,
    IdKind.TAIWAN_PERMIT: _parse_taiwan,
}


def _detect(text: str) -> IdKind:
    if _GB11643_LIKE_RE.fullmatch(text):
        if len(text) == 18 and text[:2] in ("81", "82", "83"):
            return IdKind.HMT_RESIDENCE
        if len(text) == 18 and text[0] == "9":
            return IdKind.FOREIGN_PERMANENT
        return IdKind.RESIDENT
    if _FOREIGN_OLD_RE.fullmatch(text):
        return IdKind.FOREIGN_PERMANENT
    if _HK_MACAU_RE.fullmatch(text):
        return IdKind.HK_MACAU_PERMIT
    # Passports and Taiwan permits have no distinguishing shape: the user must say what they are.
    raise _err("无法识别证件类型：请选择证件类型（护照等）", "kind")


def parse_identity(
    raw: str | None, kind: IdKind | str | None = None, *, today: datetime.date | None = None
) -> Identity:
    """Validate an identity number; ``kind`` None (or "") auto-detects. Raises ``IdentityError``."""
    resolved = IdKind.from_value(kind) if kind else None
    text = normalize_text(raw or "")
    if not text:
        raise _err("证件号码为空", "empty")
    resolved = resolved or _detect(text)
    return _PARSERS[resolved](text, today or datetime.date.today())


def resident_check_digit(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check digit of the first 17 digits."""
    if len(first17) != 17 or _first_non_digit(first17) is not None:
        raise _err(f"计算校验位需要17位数字：“{first17}”", "format")
    # stdnum expects the full number and ignores its last character.
    return ric.calc_check_digit(first17 + "0")


def _generator_prefix(area: str, seq: int) -> None:
    if len(area) != 6 or _first_non_digit(area) is not None:
        raise _err(f"地址码应为6位数字：“{area}”", "area")
    if not 0 <= seq <= 999:
        raise _err(f"顺序码应在0至999之间：{seq}", "format")


def make_resident_id(area: str, birth: datetime.date, seq: int) -> str:
    _generator_prefix(area, seq)
    first17 = f"{area}{birth.year:04d}{birth.month:02d}{birth.day:02d}{seq:03d}"
    return first17 + resident_check_digit(first17)


def make_legacy15_id(area: str, birth: datetime.date, seq: int) -> str:
    _generator_prefix(area, seq)
    if not 1900 <= birth.year <= 1999:
        raise _err(f"15位旧身份证号只能表示1900至1999年出生：{birth.isoformat()}", "birth_date")
    return f"{area}{birth.year % 100:02d}{birth.month:02d}{birth.day:02d}{seq:03d}"


def _mask_middle(text: str) -> str:
    keep = min(2, (len(text) - 1) // 2)
    return text[:keep] + "*" * (len(text) - 2 * keep) + text[len(text) - keep :] if text else ""


def mask_identity(number: str, kind: IdKind | str) -> str:
    """Hide the birth date and most digits. Never raises: it runs in templates over stored data."""
    text = normalize_text(number)
    try:
        resolved: IdKind | None = IdKind.from_value(kind)
    except IdentityError:
        resolved = None
    if resolved in _GB11643_KINDS and len(text) == 18:
        return text[:6] + "*" * 8 + text[-4:]
    return _mask_middle(text)


def _national_number(rest: str) -> str:
    # International landline form drops the trunk 0: +86 10 1234 5678 is 010-12345678.
    return rest if _MOBILE_RE.fullmatch(rest) or rest.startswith("0") else "0" + rest


def normalize_phone(raw: str | None) -> str:
    """Mainland mobile → 11 digits; landline → "0AA(A)-NNNNNNN(N)". Raises ``IdentityError(code="phone")``."""
    text = _PHONE_STRIP_RE.sub("", unicodedata.normalize("NFKC", raw or ""))
    if not text:
        raise _err("手机号码为空", "phone")
    if text.startswith("+86"):
        text = _national_number(text[3:])
    elif text.startswith("0086"):
        text = _national_number(text[4:])
    elif text.startswith("86") and _MOBILE_RE.fullmatch(text[2:]):
        text = text[2:]
    if _MOBILE_RE.fullmatch(text):
        return text
    if _LANDLINE_RE.fullmatch(text):
        # Only Beijing (010) and 020-029 have 3-digit area codes; all others have 4.
        area_len = 3 if text.startswith(("010", "02")) else 4
        local = text[area_len:]
        if 7 <= len(local) <= 8:
            return f"{text[:area_len]}-{local}"
    raise _err(f"手机号码格式无效：“{(raw or '').strip()}”", "phone")


def mask_phone(phone: str) -> str:
    """Mobile "138****5678"; landline keeps the area code and the last 2 digits. Never raises."""
    try:
        canonical = normalize_phone(phone)
    except IdentityError:
        return _mask_middle(normalize_text(phone))
    if "-" in canonical:
        area, local = canonical.split("-")
        return f"{area}-{'*' * (len(local) - 2)}{local[-2:]}"
    return f"{canonical[:3]}****{canonical[-4:]}"
