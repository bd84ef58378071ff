"""Fixed word lists for the platform simulator: other employers and people not on the roster.

All of it is invented; unit numbers of other employers start with "SIM" so they can never be
mistaken for a real 参保单位编号.
"""

from __future__ import annotations

OTHER_EMPLOYERS = (
    "上海恒远物流有限公司",
    "杭州云杉网络科技有限公司",
    "广州南粤餐饮管理有限公司",
    "成都锦程信息技术有限公司",
    "南京智造装备有限公司",
    "武汉江城商贸有限公司",
    "苏州新禾电子有限公司",
    "天津海河人力资源服务有限公司",
    "重庆山城建设工程有限公司",
    "西安秦川软件有限公司",
    "青岛蓝湾食品有限公司",
    "厦门鹭岛贸易有限公司",
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "晓东",
    "子涵",
    "浩然",
    "思远",
    "雨欣",
)

# GB/T 2260 district codes used for invented identity numbers.
AREAS = ("110105", "110108", "310104", "310115", "440304", "440305", "330106", "320106", "510107", "420106")

BANNER_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>社保数据接口模拟平台（SIMULATOR）</title>
<style>body{{font-family:sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
.banner{{background:#b91c1c;color:#fff;padding:1rem 1.25rem;border-radius:.5rem;font-size:1.15rem}}
code{{background:#f3f4f6;padding:0 .25rem}} td,th{{padding:.25rem .75rem;text-align:left}}</style></head>
<body><div class="banner"><strong>模拟平台 · SIMULATOR</strong>：本服务返回的全部缴费和参保数据均为
模拟生成，不是政府或任何经办机构的数据，只用于演示和测试 Shebao 的连接器。</div>
<p>接口说明见 <code>docs/connector-api.md</code>（版本 v1）。{auth}</p>
<p>随机种子 {seed}，{months} 个月（{first} 至 {last}），注入故障：{faults}。</p>
<table><thead><tr><th>参保单位编号</th><th>单位名称</th><th>参保记录</th><th>缴费记录</th></tr></thead>
<tbody>{rows}</tbody></table>
</body></html>
"""
