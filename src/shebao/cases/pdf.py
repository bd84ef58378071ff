"""HTML → PDF with WeasyPrint and an embedded Chinese font.

The letter's HTML is wrapped in a print stylesheet (A4, page numbers in the footer — margin
boxes do not inherit the body font, so the font is set on ``@page`` too). WeasyPrint embeds the
subset of the font the text uses. Without a CJK font installed, every Chinese character would be
a blank box: ``cjk_font()`` looks for one first and rendering refuses with a clear message
rather than producing an unreadable letter. (Without libharfbuzz-subset0 a letter takes ~30 s
instead of ~0.5 s; ``scripts/system-deps.sh`` installs it.)
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess

from shebao.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# Families tried in order (fontconfig names). Noto CJK SC is Debian's fonts-noto-cjk.
FONT_FAMILIES = ("Noto Serif CJK SC", "Noto Sans CJK SC", "Source Han Serif SC", "WenQuanYi Zen Hei")

PRINT_CSS = """
@page {
  size: A4;
  margin: 22mm 20mm 24mm 20mm;
  font-family: %(font)s;
  @bottom-center { content: "第 " counter(page) " 页，共 " counter(pages) " 页"; font-size: 9pt; color: #555;
                   font-family: %(font)s; }
  @bottom-right { content: "%(footer)s"; font-size: 7.5pt; color: #777; font-family: %(font)s; }
}
html { font-family: %(font)s; font-size: 11.5pt; line-height: 1.75; color: #111; }
h1 { font-size: 18pt; text-align: center; margin: 0 0 6mm; letter-spacing: 0.1em; }
h2 { font-size: 13pt; margin: 6mm 0 2mm; }
p { margin: 0 0 3mm; text-align: justify; }
.meta { font-size: 9.5pt; color: #444; text-align: right; margin-bottom: 6mm; }
table { border-collapse: collapse; width: 100%%; margin: 2mm 0 4mm; font-size: 10pt; }
th, td { border: 0.6pt solid #333; padding: 1.5mm 2mm; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
blockquote { margin: 2mm 0 3mm; padding: 1mm 0 1mm 4mm; border-left: 2pt solid #999; font-size: 10pt; color: #333; }
.sign { margin-top: 12mm; text-align: right; }
.small { font-size: 9pt; color: #555; }
strong, b { font-weight: bold; }
ol, ul { margin: 0 0 3mm; padding-left: 7mm; }
li { margin: 0 0 1mm; }
td.num, th.num { text-align: right; white-space: nowrap; }
table.facts th { width: 30%%; }
tr, blockquote, .sign { page-break-inside: avoid; }
.receipt { margin-top: 10mm; padding-top: 4mm; border-top: 1pt dashed #666; page-break-inside: avoid; }
.receipt h2 { text-align: center; margin-top: 0; letter-spacing: 0.5em; }
.source { word-break: break-all; }
"""


class FontMissing(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "无法生成 PDF：服务器未安装中文字体（如 fonts-noto-cjk），生成的函件会显示为方框。"
            "请由管理员安装后重试（Debian：apt-get install fonts-noto-cjk libharfbuzz-subset0）。",
            code="font_missing",
        )


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed CJK family of ``FONT_FAMILIES``, or None."""
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return None
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    installed = {name.strip() for line in out.splitlines() for name in line.split(",")}
    return next((f for f in FONT_FAMILIES if f in installed), None)


@functools.lru_cache(maxsize=1)
def _font_config():
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def _css_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def render_pdf(html: str, *, footer: str = "", font: str | None = None, require_cjk: bool = True) -> bytes:
    """The PDF of a letter's HTML (a fragment or a whole document). ``footer`` goes in the
    bottom-right margin of every page (the letter number). ``font``: a family to use instead of
    the installed CJK one (tests use it to render without a CJK font)."""
    from weasyprint import CSS, HTML

    family = font or cjk_font()
    if family is None:
        if require_cjk:
            raise FontMissing()
        family = "serif"
    css = PRINT_CSS % {"font": f'"{_css_string(family)}"', "footer": _css_string(footer)}
    document = (
        html
        if "<html" in html[:500].lower()
        else f'<!doctype html><html lang="zh-CN"><body>{html}</body></html>'
    )
    # No base_url and a fetcher that refuses everything: a letter can pull in nothing from outside.
    return HTML(string=document, url_fetcher=_refusing_fetcher()).write_pdf(
        stylesheets=[CSS(string=css, font_config=_font_config())], font_config=_font_config()
    )


def _no_fetch(url: str, *args, **kwargs):
    raise ValueError(f"函件不能引用外部资源：{url[:80]}")


@functools.lru_cache(maxsize=1)
def _refusing_fetcher():
    """A fetcher that refuses every URL (WeasyPrint logs the refusal and leaves the resource
    out). WeasyPrint ≥ 68 wants a ``URLFetcher`` (it reads the fetcher's ``_fail_on_errors``
    when a fetch fails; a plain function there crashes the rendering); older versions take the
    function."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:
        return _no_fetch

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            _no_fetch(url)

    return NoFetch()
