#!/usr/bin/env bash
# Installs the Debian packages the browser and PDF tests need, when run as root on Debian.
# Elsewhere it only says what is missing; those tests then skip with a printed reason
# (and fail under CI=true, where nothing may be skipped).
set -u
PKGS=(chromium fonts-noto-cjk libharfbuzz-subset0 poppler-utils gettext)
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
  echo "提示：缺少系统依赖 ${missing[*]}（需 root 和 apt-get）；浏览器与 PDF 测试将被跳过。" >&2
fi
