"""Where a sheet's header is, and what each of its columns means under a given profile.

Two-row headers are read as (parent, leaf) per column. Merged cells come back from the reader
as a value in the top-left cell only, so a parent is carried to the right over the cells of a
horizontally merged group (its leaf row has names under it), and a column whose leaf cell is
empty is a vertically merged single header (序号, 姓名 … spanning both rows).
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field

from shebao.imports.readers import _col_name
from shebao.ledger.facts import Insurance
from shebao.ledger.parsing.schema import Profile
from shebao.ledger.parsing.source import Row, Sheet
from shebao.ledger.parsing.text import cell_text, norm_header
from shebao.ledger.parsing.vocab import EMPLOYER, EMPLOYER_ONLY, IGNORE, classify_insurance, classify_role

__all__ = ["Group", "Layout", "Resolution", "candidates", "resolve"]

_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")


@dataclass(eq=False)
class Layout:
    sheet: Sheet
    index: int  # position in sheet.head() of the first header row
    header_row: int  # row number of the first header row
    last_header_row: int  # row number of the last header row (data follow it)
    parents: list[str]  # normalised
    leaves: list[str]  # normalised; the header's own name
    labels: list[str]  # unique display labels
    title_rows: list[Row]  # the rows above the header
    tokens: frozenset[str]
    header_sets: list[frozenset[str]]  # each header row's normalised texts (to spot repeats)


_CACHE: weakref.WeakKeyDictionary[Sheet, dict[int, list[Layout]]] = weakref.WeakKeyDictionary()


def candidates(sheet: Sheet, header_rows: int, min_row: int = 1, max_row: int = 10**9) -> list[Layout]:
    """Every plausible header position in the first rows of a sheet (computed once per sheet),
    whose first row number is within [min_row, max_row]."""
    per_sheet = _CACHE.setdefault(sheet, {})
    if header_rows not in per_sheet:
        head = sheet.head()
        out = []
        for i in range(len(head) - header_rows + 1):
            if not any(_looks_like_data(cells) for _, cells in head[i : i + header_rows]):
                out.append(_layout(sheet, head, i, header_rows))
        per_sheet[header_rows] = out
    return [layout for layout in per_sheet[header_rows] if min_row <= layout.header_row <= max_row]


def _looks_like_data(cells: list[object]) -> bool:
    return any(type(v) is str and _ID_LIKE.search(v) for v in cells)


def _layout(sheet: Sheet, head: list[Row], i: int, header_rows: int) -> Layout:
    first = [cell_text(v) for v in head[i][1]]
    if header_rows == 1:
        raw_parents, raw_leaves = [""] * len(first), first
    else:
        second = [cell_text(v) for v in head[i + 1][1]]
        width = max(len(first), len(second))
        first += [""] * (width - len(first))
        second += [""] * (width - len(second))
        raw_parents, raw_leaves, carried = [], [], ""
        for top, bottom in zip(first, second, strict=True):
            if top and bottom:  # the first cell of a horizontally merged group
                carried = top
                raw_parents.append(top)
                raw_leaves.append(bottom)
            elif top:  # a vertically merged single header
                carried = ""
                raw_parents.append("")
                raw_leaves.append(top)
            elif bottom:
                raw_parents.append(carried)
                raw_leaves.append(bottom)
            else:
                carried = ""
                raw_parents.append("")
                raw_leaves.append("")
    parents = [norm_header(p) for p in raw_parents]
    leaves = [norm_header(v) for v in raw_leaves]
    labels: list[str] = []
    seen: dict[str, int] = {}
    for c, (p, leaf) in enumerate(zip(raw_parents, raw_leaves, strict=True)):
        label = f"{p}/{leaf}" if p else leaf or f"{_col_name(c)}列"
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label}({seen[label]})")
    tokens = frozenset(t for t in (*parents, *leaves) if t) | frozenset(
        p + leaf for p, leaf in zip(parents, leaves, strict=True) if p and leaf
    )
    return Layout(
        sheet=sheet,
        index=i,
        header_row=head[i][0],
        last_header_row=head[i + header_rows - 1][0],
        parents=parents,
        leaves=leaves,
        labels=labels,
        title_rows=head[:i],
        tokens=tokens,
        header_sets=[
            frozenset(filter(None, (norm_header(v) for v in cells))) for _, cells in head[i : i + header_rows]
        ],
    )


# --- columns -------------------------------------------------------------------------------------

SLOTS = ("base", "base_er", "base_ee", "rate_er", "rate_ee", "er", "ee", "er_paid", "ee_paid", "late")
_SLOT_FIELD = {
    "base": "base",
    "base_er": "base",
    "base_ee": "base",
    "rate_er": "employer_rate",
    "rate_ee": "employee_rate",
    "er": "employer_due",
    "ee": "employee_due",
    "er_paid": "employer_paid",
    "ee_paid": "employee_paid",
    "late": "late_fee",
}
_ROLE_SLOT = {
    "base": {None: "base", EMPLOYER: "base_er", "employee": "base_ee"},
    "rate": {None: "rate_er", EMPLOYER: "rate_er", "employee": "rate_ee"},
    "due": {EMPLOYER: "er", "employee": "ee"},
    "paid": {EMPLOYER: "er_paid", "employee": "ee_paid"},
    "late_fee": {None: "late", EMPLOYER: "late", "employee": "late"},
}
_MAPPED_ROLE_SLOT = {
    "base": "base",
    "employer_due": "er",
    "employee_due": "ee",
    "employer_paid": "er_paid",
    "employee_paid": "ee_paid",
    "late_fee": "late",
}


@dataclass(eq=False)
class Group:
    """One insurance block of a wide row: column index per slot (-1: absent)."""

    insurance: Insurance
    slots: dict[str, int] = field(default_factory=dict)

    def index(self, slot: str) -> int:
        return self.slots.get(slot, -1)


@dataclass(eq=False)
class Resolution:
    fixed: dict[str, int] = field(default_factory=dict)  # field key → column index
    groups: list[Group] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # labels of ignored insurance groups
    ignored_items: list[str] = field(default_factory=list)  # which items (职业年金 …)
    unsided: list[str] = field(default_factory=list)  # amount columns whose side is unknown
    fields: dict[str, str] = field(default_factory=dict)  # label → field key ("" = not used)
    used: int = 0  # columns that mean something to the profile

    @property
    def group_columns(self) -> int:
        return sum(len(g.slots) for g in self.groups)


def resolve(profile: Profile, layout: Layout) -> Resolution:
    res = Resolution()
    best: dict[str, tuple[int, int]] = {}  # field → (alias rank, column)
    wide = profile.shape == "wide"
    mapped = bool(profile.group_aliases)
    for c, (parent, leaf) in enumerate(zip(layout.parents, layout.leaves, strict=True)):
        res.fields[layout.labels[c]] = ""
        if not leaf:
            continue
        if mapped:
            hit = profile.group_aliases.get(leaf) or profile.group_aliases.get(parent + leaf)
            if hit is not None:
                _place(res, hit[0], _MAPPED_ROLE_SLOT[hit[1]], c, layout)
                continue
        parent_group = wide and not mapped and bool(parent) and _insurance(profile, parent)[0] is not None
        if not parent_group:
            hit2 = profile.aliases.get(leaf) or (profile.aliases.get(parent + leaf) if parent else None)
            if hit2 is not None:
                key, rank = hit2
                if key not in best or rank < best[key][0]:
                    best[key] = (rank, c)
                continue
        if not wide or mapped:
            continue
        insurance, keyword = _insurance(profile, f"{parent}/{leaf}" if parent else leaf)
        if insurance is None:
            continue
        if insurance == IGNORE:
            res.ignored.append(layout.labels[c])
            if keyword not in res.ignored_items:
                res.ignored_items.append(keyword)
            res.fields[layout.labels[c]] = "ignored"
            res.used += 1
            continue
        role = classify_role(leaf, parent)
        if role is None:
            continue
        kind, side = role
        if side is None:
            side = next((s for k, s in profile.group_sides.items() if k in f"{parent}/{leaf}"), None)
        if side is None and kind in ("due", "paid") and insurance in EMPLOYER_ONLY:
            side = EMPLOYER
        slot = _ROLE_SLOT[kind].get(side)
        if slot is None:
            res.unsided.append(layout.labels[c])
            continue
        _place(res, insurance, slot, c, layout)  # type: ignore[arg-type]
    for key, (_, c) in best.items():
        res.fixed[key] = c
        res.fields[layout.labels[c]] = key
        res.used += 1
    return res


def _insurance(profile: Profile, text: str) -> tuple[Insurance | str | None, str]:
    return classify_insurance(text, exact=profile.insurance_exact, keywords=profile.insurance_keywords)


def _place(res: Resolution, insurance: Insurance, slot: str, column: int, layout: Layout) -> None:
    group = next((g for g in res.groups if g.insurance == insurance and slot not in g.slots), None)
    if group is None:
        group = Group(insurance)
        res.groups.append(group)
    group.slots[slot] = column
    res.fields[layout.labels[column]] = f"{insurance.value}.{_SLOT_FIELD[slot]}"
    res.used += 1
