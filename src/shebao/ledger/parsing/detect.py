"""Which profile fits a file: header signature, sheet name, title text and file name."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from shebao.ledger.parsing.layout import Layout, Resolution, candidates, resolve
from shebao.ledger.parsing.schema import Profile, profile_list
from shebao.ledger.parsing.source import Source
from shebao.ledger.parsing.text import cell_text, norm_header

__all__ = ["Detection", "detect", "locate"]


@dataclass(eq=False)
class Detection:
    profile: Profile
    score: int
    reasons: list[str]  # Chinese, for the UI
    sheet: str
    header_row: int
    layout: Layout = field(repr=False)
    resolution: Resolution = field(repr=False)

    def __repr__(self) -> str:
        return f"<Detection {self.profile.code} {self.score} sheet={self.sheet!r} row={self.header_row}>"


def title_text(layout: Layout) -> str:
    return norm_header("".join(cell_text(v) for _, cells in layout.title_rows for v in cells))


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _score(profile: Profile, layout: Layout, filename: str) -> tuple[int, list[str], Resolution] | None:
    d = profile.definition.detect
    tokens = layout.tokens
    hits = []
    for alternatives in profile.required:
        hit = next((a for a in alternatives if a in tokens), None)
        if hit is None:
            return None
        hits.append(hit)
    if tokens & profile.absent:
        return None
    sheet_hit = next((k for k in d.sheet if norm_header(k) in norm_header(layout.sheet.name)), None)
    if d.sheet_required and sheet_hit is None:
        return None
    title = title_text(layout)
    title_hit = next((k for k in d.title if norm_header(k) in title), None)
    if d.title_required and title_hit is None:
        return None
    name_hit = next((p.pattern for p in profile.detect_filename if p.search(_fold(filename))), None)
    if d.filename_required and name_hit is None:
        return None
    res = resolve(profile, layout)
    if res.group_columns < d.groups_min:
        return None
    optional = [o for o in profile.optional if o in tokens]
    filled = sum(1 for leaf in layout.leaves if leaf)
    coverage = res.used / filled if filled else 0
    score = (
        10 * len(hits) + 3 * len(optional) + round(20 * coverage) + min(res.group_columns, 20) + d.priority
    )
    reasons = [f"表头包含：{'、'.join(hits)}"]
    if optional:
        reasons.append(f"另有列：{'、'.join(optional[:8])}")
    if res.groups:
        names = "、".join(dict.fromkeys(g.insurance.label for g in res.groups))
        reasons.append(f"识别到险种列：{names}")
    if sheet_hit:
        score += 15
        reasons.append(f"工作表名含“{sheet_hit}”")
    if title_hit:
        score += 20
        reasons.append(f"标题含“{title_hit}”")
    if name_hit:
        score += 8
        reasons.append("文件名符合该格式的命名")
    reasons.append(f"能识别 {res.used}/{filled} 列")
    return score, reasons, res


def _row_range(profile: Profile) -> tuple[int, int]:
    d = profile.definition.detect
    return d.header_row_min, d.header_row_max


def locate(profile: Profile, source: Source, *, sheet: str | None = None) -> Detection | None:
    """Where ``profile`` fits best in ``source`` (the sheet and header row), or None."""
    best: Detection | None = None
    sheets = [source.sheet(sheet)] if sheet is not None else source.sheets
    for candidate_sheet in sheets:
        for layout in candidates(candidate_sheet, profile.header_rows, *_row_range(profile)):
            scored = _score(profile, layout, source.filename)
            if scored is None:
                continue
            score, reasons, res = scored
            if best is None or score > best.score:
                best = Detection(
                    profile, score, reasons, candidate_sheet.name, layout.header_row, layout, res
                )
    return best


def missing_headers(profile: Profile, source: Source, *, sheet: str | None = None) -> list[str]:
    """The required headers of the closest header row, for the "wrong format" message."""
    fewest: list[str] | None = None
    sheets = [source.sheet(sheet)] if sheet is not None else source.sheets
    for candidate_sheet in sheets:
        for layout in candidates(candidate_sheet, profile.header_rows, *_row_range(profile)):
            missing = [alts[0] for alts in profile.required if not any(a in layout.tokens for a in alts)]
            if fewest is None or len(missing) < len(fewest):
                fewest = missing
    return fewest if fewest is not None else [alts[0] for alts in profile.required]


def detect(source: Source, *, profiles: Iterable[Profile] | None = None) -> list[Detection]:
    """Profiles that fit ``source``, best first (shipped and saved ones unless ``profiles``)."""
    found = [d for p in (profile_list() if profiles is None else profiles) if (d := locate(p, source))]
    return sorted(found, key=lambda d: -d.score)
