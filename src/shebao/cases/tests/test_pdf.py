"""The letter PDF: Chinese text really rendered with the embedded CJK font — a page converted to
PNG shows distinct glyph shapes, where the same text rendered with the CJK fonts removed shows a
row of identical boxes (tofu) — and extractable as text; A4 with the footer on every page; no
CJK font refused instead of printing boxes; nothing fetched from outside.

"With the font removed" has to mean removed: asked for "DejaVu Sans", Pango falls back to any
installed font that has the glyph, so the tofu render runs in a child process whose fontconfig
knows only the DejaVu folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shebao.cases import pdf

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEXT = "社会保险登记告知函确"  # ten different characters on one line
# 26 pt at 60 dpi: ~22 px glyphs, ~13 px apart; the line fits the A4 text width (~400 px)
LINE = f'<p style="font-size: 26pt; letter-spacing: 0.6em; line-height: 1.4; margin: 0; white-space: nowrap">{TEXT}</p>'
INK = 160  # grey level below which a pixel is ink
MERGE_GAP = 6  # columns: blank runs up to this wide are inside a glyph (between glyphs: ~13 px)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    if CI:
        pytest.fail(f"{tool} 未安装（poppler-utils / fontconfig）：CI 中不能跳过")
    pytest.skip(f"未安装 {tool}（apt-get install poppler-utils fontconfig）")


def _need_cjk() -> str:
    family = pdf.cjk_font()
    if family is None:
        if CI:
            pytest.fail("未安装中文字体（fonts-noto-cjk）：CI 中不能跳过")
        pytest.skip("未安装中文字体（apt-get install fonts-noto-cjk）")
    return family


def _dejavu_dir() -> Path:
    out = subprocess.run(
        [_need("fc-list"), "DejaVu Sans:style=Book", "file"], capture_output=True, text=True, timeout=30
    ).stdout
    files = [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
    if not files:
        if CI:
            pytest.fail("未安装 DejaVu 字体（fonts-dejavu-core）：CI 中不能跳过")
        pytest.skip("未安装 DejaVu 字体（apt-get install fonts-dejavu-core）")
    return Path(files[0]).parent


def render_without_cjk(html: str, tmp_path: Path) -> bytes:
    """``pdf.render_pdf(html, font="DejaVu Sans", require_cjk=False)`` in a process whose
    fontconfig has only the DejaVu fonts: no CJK font to fall back to."""
    folder = tmp_path / "fontconfig"
    folder.mkdir(exist_ok=True)
    conf = folder / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
        f"  <dir>{_dejavu_dir()}</dir>\n  <cachedir>{folder / 'cache'}</cachedir>\n</fontconfig>\n",
        "utf-8",
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(conf), "XDG_CACHE_HOME": str(folder / "xdg")}
    env.pop("FONTCONFIG_PATH", None)
    code = (
        "import sys\n"
        "from shebao.cases import pdf\n"
        "data = pdf.render_pdf(sys.stdin.read(), font='DejaVu Sans', require_cjk=False)\n"
        "sys.stdout.buffer.write(data)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=html.encode("utf-8"), capture_output=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-2000:]
    return done.stdout


def page_png(data: bytes, tmp_path: Path, name: str) -> Path:
    """Page 1 at 60 dpi (``pdftoppm -png -r 60``)."""
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(data)
    subprocess.run(
        [_need("pdftoppm"), "-png", "-r", "60", "-f", "1", "-l", "1", str(source), str(tmp_path / name)],
        check=True,
        timeout=120,
    )
    (png,) = tmp_path.glob(f"{name}*.png")
    return png


def glyph_cells(png: Path) -> list[tuple[int, int, frozenset[tuple[int, int]]]]:
    """The glyphs of the first line of text in the top half of the page, left to right: each as
    (width, height, its ink pixels relative to its own bounding box)."""
    from PIL import Image

    image = Image.open(png).convert("L")
    width, height = image.size
    px = image.load()
    rows = [y for y in range(height // 2) if any(px[x, y] < INK for x in range(width))]
    assert rows, "page is blank"
    y0 = y1 = rows[0]
    for y in rows[1:]:  # the first line: ink rows with gaps of a few rows at most (inside glyphs)
        if y - y1 > 6:
            break
        y1 = y
    columns = [any(px[x, y] < INK for y in range(y0, y1 + 1)) for x in range(width)]
    runs: list[list[int]] = []
    for x, ink in enumerate(columns):
        if not ink:
            continue
        if runs and x - runs[-1][1] <= MERGE_GAP:
            runs[-1][1] = x
        else:
            runs.append([x, x])
    cells = []
    for a, b in runs:
        ink = {(x - a, y) for x in range(a, b + 1) for y in range(y0, y1 + 1) if px[x, y] < INK}
        ys = [y for _x, y in ink]
        t, bottom = min(ys), max(ys)
        cells.append((b - a + 1, bottom - t + 1, frozenset((x, y - t) for x, y in ink)))
    return cells


def _near(p: tuple[int, int], pixels: frozenset[tuple[int, int]]) -> bool:
    return any((p[0] + dx, p[1] + dy) in pixels for dx in (-1, 0, 1) for dy in (-1, 0, 1))


def _same(a, b) -> bool:
    """Two glyph bitmaps are the same shape: sizes within 2 px, and at most 10 % of either's ink
    more than one pixel away from the other's (the same glyph at another sub-pixel offset
    anti-aliases its edges one pixel further)."""
    if abs(a[0] - b[0]) > 2 or abs(a[1] - b[1]) > 2:
        return False
    far_a = sum(1 for p in a[2] if not _near(p, b[2]))
    far_b = sum(1 for p in b[2] if not _near(p, a[2]))
    return far_a <= 0.1 * len(a[2]) and far_b <= 0.1 * len(b[2])


def distinct_shapes(cells) -> int:
    shapes: list = []
    for cell in cells:
        if not any(_same(cell, s) for s in shapes):
            shapes.append(cell)
    return len(shapes)


def _fonts(data: bytes, tmp_path: Path, name: str) -> str:
    source = tmp_path / f"{name}-fonts.pdf"
    source.write_bytes(data)
    return subprocess.run([_need("pdffonts"), str(source)], capture_output=True, text=True, timeout=60).stdout


def _text(data: bytes, tmp_path: Path, name: str) -> str:
    source = tmp_path / f"{name}-text.pdf"
    source.write_bytes(data)
    return subprocess.run(
        [_need("pdftotext"), "-layout", str(source), "-"], capture_output=True, text=True, timeout=60
    ).stdout


def test_chinese_glyphs_are_rendered_not_boxes(tmp_path):
    _need_cjk()
    with_cjk = pdf.render_pdf(LINE)
    without = render_without_cjk(LINE, tmp_path)

    # the renders use what they should: the CJK font embedded, and none at all in the other
    assert "CJK" in _fonts(with_cjk, tmp_path, "cjk")
    assert "CJK" not in _fonts(without, tmp_path, "tofu") and "DejaVu" in _fonts(without, tmp_path, "tofu")

    cjk_cells = glyph_cells(page_png(with_cjk, tmp_path, "cjk"))
    tofu_cells = glyph_cells(page_png(without, tmp_path, "tofu"))
    # one cell per character in both: the line was laid out in both renders
    assert len(tofu_cells) == len(TEXT), len(tofu_cells)
    assert len(cjk_cells) == len(TEXT), len(cjk_cells)
    # ten different characters are ten different shapes with the font, one repeated box without
    assert distinct_shapes(cjk_cells) >= len(TEXT) - 1
    assert distinct_shapes(tofu_cells) <= 2
    # a box is hollow: its ink is its outline, where a glyph's strokes cross its inside
    box = tofu_cells[0]
    inside = {(x, y) for x in range(3, box[0] - 3) for y in range(3, box[1] - 3)}
    assert not (box[2] & inside)
    assert all(
        cell[2] & {(x, y) for x in range(3, cell[0] - 3) for y in range(3, cell[1] - 3)} for cell in cjk_cells
    )

    # and the text is there for a reader (copy, search, screen readers)
    assert TEXT in _text(with_cjk, tmp_path, "cjk").replace(" ", "")


def test_the_test_tells_a_real_glyph_row_from_boxes(tmp_path):
    """The shape comparison itself: identical characters give one shape even with the font."""
    _need_cjk()
    same = pdf.render_pdf(LINE.replace(TEXT, "函" * len(TEXT)))
    cells = glyph_cells(page_png(same, tmp_path, "same"))
    assert len(cells) == len(TEXT) and distinct_shapes(cells) <= 2


def test_a4_with_the_footer_on_every_page(tmp_path):
    _need_cjk()
    body = "<h1>告知函</h1>" + "".join(f"<p>第{i}段：请于期限内确认收到本函。</p>" for i in range(120))
    data = pdf.render_pdf(body, footer="HJ202601-0001 · AJ202601-0001")
    source = tmp_path / "long.pdf"
    source.write_bytes(data)
    info = subprocess.run([_need("pdfinfo"), str(source)], capture_output=True, text=True, timeout=60).stdout
    pages = int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])
    assert pages >= 2
    assert "595.276 x 841.89 pts (A4)" in info
    text = _text(data, tmp_path, "long")
    for n in range(1, pages + 1):
        assert f"第 {n} 页，共 {pages} 页" in text
    assert text.count("HJ202601-0001 · AJ202601-0001") == pages


def test_no_cjk_font_is_refused_not_printed_as_boxes(monkeypatch):
    monkeypatch.setattr(pdf, "cjk_font", lambda: None)
    with pytest.raises(pdf.FontMissing) as exc:
        pdf.render_pdf("<p>您好</p>")
    assert "fonts-noto-cjk" in exc.value.message and exc.value.code == "font_missing"


def test_a_letter_can_fetch_nothing(tmp_path):
    from weasyprint import HTML

    image = tmp_path / "seal.png"
    from PIL import Image

    Image.new("RGB", (40, 40), (200, 0, 0)).save(image)
    html = f'<p>公章</p><img src="{image.as_uri()}" style="width: 40px">'
    # the same HTML with WeasyPrint's own fetcher embeds the picture …
    assert b"/Image" in HTML(string=html, base_url=str(tmp_path)).write_pdf()
    # … a letter does not
    _need_cjk()
    assert b"/Image" not in pdf.render_pdf(html)
    with pytest.raises(ValueError):
        pdf._no_fetch(image.as_uri())
