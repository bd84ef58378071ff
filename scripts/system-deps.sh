#!/usr/bin/env bash
# Installs the Debian packages the browser and PDF tests need, when run as root on Debian.
# Elsewhere it only says what is missing; those tests then skip with a printed reason
# (and fail under CI=true, where nothing may be skipped).
#   scripts/system-deps.sh        everything the tests need
#   scripts/system-deps.sh pdf    only what notice letters need (a Chinese font and fast subsetting)
set -u
if [ "${1:-}" = "pdf" ]; then
  PKGS=(fonts-noto-cjk libharfbuzz-subset0)
else
  PKGS=(chromium fonts-noto-cjk libharfbuzz-subset0 poppler-utils gettext)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "安装系统依赖：${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "系统依赖安装失败：${missing[*]}" >&2; exit 1; }
else
  if [ "${1:-}" = "pdf" ]; then
    echo "提示：缺少系统依赖 ${missing[*]}（需 root 和 apt-get）；未安装中文字体时无法生成函件 PDF。" >&2
  else
    echo "提示：缺少系统依赖 ${missing[*]}（需 root 和 apt-get）；浏览器与 PDF 测试将被跳过。" >&2
  fi
fi
