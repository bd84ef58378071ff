"""Deterministic synthetic organisation for demos, tests and benchmarks.

Pure Python (no database): ``generate(employees=N, seed=S, as_of=D)`` returns the same
organisation — entities, department tree and people with their employment spells — for the
same N, S and as-of date. All randomness comes from one ``random.Random`` seeded with a
string (stable across processes and PYTHONHASHSEED). ``shebao.demo.services`` writes it.

What it models:
* 8 employer entities (参保主体) in 北京, 上海, 深圳, 广州 and 成都: four offices of a tech
  group and four retail companies of its store brand, with valid USCCs (GB 32100, check digits
  of both the organisation code and the USCC) and social-insurance / housing-fund unit numbers.
* Offices have departments with sub-teams; retail companies have an operations office and
  regional branches (kind "branch") with stores (kind "store"); the store count grows with N.
* People: names drawn from surnames weighted by frequency (a few compound surnames) and given
  names by generation and gender; resident IDs with real county codes (valid in the birth
  year) of birth provinces all over China, biased towards the work city's region; about 1%
  legacy 15-digit IDs (one or two of them current full-time staff), about 0.5% foreign staff with
  passports, a few 港澳台居民居住证 holders.
* Hire dates over the last three years plus some long-timers, a few future hires (待入职);
  leave dates from a constant hazard (about 10%/year in offices, about 50%/year in stores);
  a few rehires with a second spell; employment and hukou types; wages by city and role.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources

from stdnum.cn import uscc as uscc_lib

from shebao.core.identity import IdKind, make_legacy15_id, make_resident_id

ORGANISATION_NAME = "示例集团"

# --- entities ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntitySpec:
    code: str
    name: str
    city: str  # short name, resolved with shebao.policy.selectors.city_resolve
    province: str  # 2-digit province code of the city
    district: str  # 6-digit registration district (USCC digits 3-8)
    kind: str  # "office" or "retail"
    share: float  # share of the people
    uscc: str = ""
    si_unit_no: str = ""
    hf_unit_no: str = ""


_ENTITIES: tuple[EntitySpec, ...] = (
    EntitySpec("BJ01", "示例集团（北京）科技有限公司", "北京", "11", "110108", "office", 0.16),
    EntitySpec("BJ02", "北京示例优选商贸有限公司", "北京", "11", "110105", "retail", 0.12),
    EntitySpec("SH01", "上海示例信息技术有限公司", "上海", "31", "310115", "office", 0.11),
    EntitySpec("SH02", "上海示例优选商贸有限公司", "上海", "31", "310104", "retail", 0.13),
    EntitySpec("SZ01", "深圳示例科技有限公司", "深圳", "44", "440305", "office", 0.12),
    EntitySpec("GZ01", "广州示例优选零售有限公司", "广州", "44", "440106", "retail", 0.14),
    EntitySpec("CD01", "成都示例软件有限公司", "成都", "51", "510107", "office", 0.09),
    EntitySpec("CD02", "成都示例优选商贸有限公司", "成都", "51", "510104", "retail", 0.13),
)
ENTITY_CODES: tuple[str, ...] = tuple(e.code for e in _ENTITIES)
CITIES: tuple[str, ...] = ("北京", "上海", "深圳", "广州", "成都")

_ORG_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # USCC alphabet (no I O Z S V)


def org_code_check(first8: str) -> str:
    """GB 11714 organisation-code check character of 8 digits/letters."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, weights, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(district: str, rng: random.Random) -> str:
    """A 统一社会信用代码 of a company (9 = market regulator, 1 = enterprise) registered since 2015."""
    body = "MA" + "".join(rng.choice(_ORG_CODE_ALPHABET[:10] + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(6))
    first17 = "91" + district + body + org_code_check(body)
    return uscc_lib.validate(first17 + uscc_lib.calc_check_digit(first17))


# --- departments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentSpec:
    key: tuple[str, ...]  # (entity code, name, child name, …): unique and stable
    name: str
    kind: str  # "department", "branch" or "store"
    role: str  # wage/gender profile of the people in it
    weight: float  # relative headcount
    code: str = ""

    @property
    def entity_code(self) -> str:
        return self.key[0]

    @property
    def parent_key(self) -> tuple[str, ...] | None:
        return self.key[:-1] if len(self.key) > 2 else None

    @property
    def depth(self) -> int:
        return len(self.key) - 2


# (name, role, weight, children) — a parent with children keeps a small weight for its head.
_RD = ("研发中心", "rd", 1)
_OFFICE_TEMPLATES: dict[str, list[tuple]] = {
    "BJ01": [
        (
            *_RD,
            [
                ("后端开发组", "rd", 8),
                ("前端开发组", "rd", 5),
                ("移动开发组", "rd", 4),
                ("测试组", "qa", 4),
                ("数据平台组", "data", 3),
                ("运维组", "ops", 2),
            ],
        ),
        ("产品部", "product", 0.5, [("产品组", "product", 4), ("设计组", "design", 2)]),
        ("销售部", "sales", 0.5, [("大客户组", "sales", 4), ("渠道组", "sales", 3)]),
        ("市场部", "marketing", 0.5, [("品牌组", "marketing", 2), ("增长组", "marketing", 2)]),
        ("财务部", "finance", 3, []),
        ("人力资源部", "hr", 3, []),
        ("行政部", "admin", 2, []),
        ("法务部", "legal", 1, []),
    ],
    "SH01": [
        (*_RD, [("后端开发组", "rd", 5), ("前端开发组", "rd", 3), ("测试组", "qa", 2)]),
        ("销售部", "sales", 0.5, [("华东大客户组", "sales", 5), ("渠道组", "sales", 3)]),
        ("市场部", "marketing", 2, []),
        ("财务部", "finance", 1, []),
        ("行政部", "admin", 1, []),
    ],
    "SZ01": [
        (*_RD, [("移动开发组", "rd", 5), ("硬件组", "rd", 3), ("算法组", "data", 3), ("测试组", "qa", 2)]),
        ("产品部", "product", 0.5, [("产品组", "product", 3), ("设计组", "design", 2)]),
        ("华南销售部", "sales", 3, []),
        ("行政部", "admin", 1, []),
    ],
    "CD01": [
        (*_RD, [("后端开发组", "rd", 4), ("测试组", "qa", 3), ("运维组", "ops", 2)]),
        ("客户服务中心", "cs", 0.5, [("客服一组", "cs", 5), ("客服二组", "cs", 5), ("质检组", "cs", 1)]),
        ("人力资源部", "hr", 1, []),
        ("行政部", "admin", 1, []),
    ],
}
# Retail: the operations office of each company, then regional branches with stores.
_RETAIL_OFFICE = [("运营管理部", "store_ops", 2), ("人事行政部", "hr", 1)]
_RETAIL_OFFICE_SHARE = 0.04

_STORE_AREAS: dict[str, list[tuple[str, list[str]]]] = {
    "北京": [
        ("朝阳", ["望京", "三里屯", "国贸", "双井", "大望路", "亚运村", "酒仙桥", "十里堡"]),
        ("海淀", ["中关村", "五道口", "公主坟", "万柳", "西二旗", "上地", "学院路"]),
        ("东城", ["王府井", "东直门", "崇文门", "和平里"]),
        ("西城", ["西单", "金融街", "新街口", "德胜门"]),
        ("丰台", ["丽泽", "方庄", "科技园", "马家堡", "青塔"]),
        ("通州", ["梨园", "北苑", "九棵树", "果园"]),
        ("昌平", ["回龙观", "天通苑", "北七家", "沙河"]),
        ("大兴", ["亦庄", "黄村", "旧宫", "西红门"]),
    ],
    "上海": [
        ("浦东", ["陆家嘴", "张江", "世纪公园", "金桥", "川沙", "周浦", "三林", "花木"]),
        ("徐汇", ["徐家汇", "漕河泾", "田林", "龙华", "康健"]),
        ("静安", ["南京西路", "静安寺", "大宁", "彭浦"]),
        ("黄浦", ["人民广场", "新天地", "老西门", "打浦桥"]),
        ("长宁", ["中山公园", "古北", "虹桥", "天山"]),
        ("闵行", ["莘庄", "七宝", "颛桥", "梅陇"]),
        ("杨浦", ["五角场", "控江路", "新江湾城"]),
        ("普陀", ["长风", "真如", "曹杨", "桃浦"]),
        ("宝山", ["大场", "顾村", "淞南", "杨行"]),
    ],
    "广州": [
        ("天河", ["珠江新城", "体育西", "岗顶", "车陂", "龙洞", "员村"]),
        ("越秀", ["北京路", "东山口", "公园前", "淘金"]),
        ("海珠", ["江南西", "客村", "琶洲", "赤岗"]),
        ("番禺", ["市桥", "大石", "万博", "祈福"]),
        ("白云", ["三元里", "同和", "嘉禾望岗", "白云新城"]),
        ("荔湾", ["上下九", "芳村", "西关"]),
        ("黄埔", ["科学城", "大沙地", "知识城"]),
        ("花都", ["新华", "狮岭", "花山"]),
    ],
    "成都": [
        ("锦江", ["春熙路", "太古里", "东大路", "攀成钢"]),
        ("武侯", ["科华北路", "玉林", "红牌楼", "桐梓林"]),
        ("青羊", ["宽窄巷子", "光华", "金沙", "八宝街"]),
        ("成华", ["建设路", "双桥子", "龙潭寺", "二仙桥"]),
        ("金牛", ["九里堤", "茶店子", "营门口", "沙湾"]),
        ("高新", ["天府三街", "金融城", "大源", "中和"]),
        ("郫都", ["犀浦", "红光"]),
        ("龙泉驿", ["大面", "十陵", "龙泉"]),
    ],
}
_MALLS = [
    "",
    *"万达广场 大悦城 龙湖天街 万象城 吾悦广场 印象城 银泰城 来福士 合生汇 凯德广场 爱琴海 宝龙广场".split(),
]
_STORE_SIZE = 20  # active staff per store, roughly

# --- people ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpellSpec:
    entity_code: str
    department_key: tuple[str, ...]
    employee_no: str
    employment_type: str
    hire_date: dt.date
    leave_date: dt.date | None
    leave_reason: str
    declared_wage: Decimal


@dataclass(frozen=True)
class PersonSpec:
    name: str
    id_kind: str  # IdKind value
    id_number: str  # as it would be entered: 15 digits for a legacy ID
    birth_date: dt.date
    gender: str  # "M" / "F"
    phone: str
    hukou_type: str
    spells: tuple[SpellSpec, ...]

    @property
    def current(self) -> SpellSpec:
        return self.spells[-1]


@dataclass
class DemoOrganisation:
    seed: int
    as_of: dt.date
    entities: list[EntitySpec]
    departments: list[DepartmentSpec]  # parents before children
    people: list[PersonSpec] = field(default_factory=list)


def _table(text: str) -> dict[str, float]:
    """``"a:1 b:2.5"`` → {"a": 1.0, "b": 2.5}: keeps the data tables below compact."""
    return {key: float(value) for key, value in (item.split(":") for item in text.split())}


# Annual hazard of leaving, by segment and employment type: with a constant hazard λ the number
# of leavers in a year over the average headcount is λ.
_HAZARD = {
    ("office", "full_time"): 0.10,
    ("office", "intern"): 1.6,
    ("office", "retiree_rehire"): 0.25,
    ("office", "foreign"): 0.18,
    ("retail", "full_time"): 0.40,
    ("retail", "part_time"): 0.75,
    ("retail", "intern"): 1.6,
    ("retail", "retiree_rehire"): 0.30,
    ("retail", "foreign"): 0.30,
}
_TYPES = {
    "office": (("full_time", 970), ("intern", 25), ("retiree_rehire", 5)),
    "retail": (("full_time", 720), ("part_time", 180), ("intern", 80), ("retiree_rehire", 20)),
}
_CITY_WAGE = {"北京": 1.0, "上海": 1.02, "深圳": 0.97, "广州": 0.82, "成都": 0.68}
# Beijing median monthly wage and spread (σ of the log) by role.
_ROLE_WAGE = {
    role: (int(median), float(sigma))
    for role, median, sigma in (
        item.split(":")
        for item in (
            "rd:26000:0.32 data:28000:0.32 qa:17000:0.28 ops:20000:0.28 product:24000:0.32 design:18000:0.3 "
            "sales:15000:0.45 marketing:15000:0.35 finance:14000:0.3 hr:13000:0.3 admin:9500:0.25 legal:20000:0.3 "
            "cs:7500:0.2 store:6800:0.18 store_ops:11000:0.3"
        ).split()
    )
}
_FEMALE_SHARE = _table(
    "rd:0.28 data:0.3 qa:0.45 ops:0.2 product:0.5 design:0.6 sales:0.38 marketing:0.62 finance:0.7 hr:0.75 "
    "admin:0.65 legal:0.55 cs:0.7 store:0.62 store_ops:0.5"
)
_LEAVE_REASONS = tuple(
    _table("个人原因:45 另谋发展:20 家庭原因:10 合同到期不续签:10 协商解除:8 回老家发展:7").items()
)
# Population of the mainland provinces (2020 census, millions): where people come from.
_PROVINCE_POP = _table(
    "11:21.9 12:13.9 13:74.6 14:34.9 15:24.0 21:42.6 22:24.1 23:31.9 31:24.9 32:84.7 33:64.6 34:61.0 35:41.5 "
    "36:45.2 37:101.5 41:99.4 42:57.8 43:66.4 44:126.0 45:50.1 46:10.1 50:32.1 51:83.7 52:38.6 53:47.2 54:3.6 "
    "61:39.5 62:25.0 63:5.9 64:7.2 65:25.9"
)
# Share of a city's staff born in its own province and its usual neighbours; the rest nationwide.
_ORIGIN_BIAS = {
    "北京": {"11": 0.30, "13": 0.12, "37": 0.06, "41": 0.06, "14": 0.03, "21": 0.03, "23": 0.03, "15": 0.02},
    "上海": {"31": 0.25, "32": 0.12, "33": 0.08, "34": 0.10, "36": 0.03, "41": 0.03},
    "深圳": {"44": 0.25, "43": 0.10, "45": 0.06, "42": 0.06, "36": 0.05, "51": 0.03},
    "广州": {"44": 0.40, "43": 0.08, "45": 0.07, "42": 0.04, "36": 0.03},
    "成都": {"51": 0.60, "50": 0.10, "52": 0.04, "53": 0.03, "61": 0.02},
}
_SOUTH = {"35", "44", "45", "46"}

# Surnames with their frequency (per ten thousand people, rounded); compound surnames are rare.
_SURNAMES = (
    "王712 李706 张661 刘534 陈457 杨309 黄221 赵207 吴197 周189 徐155 孙152 马144 朱136 胡131 郭118 何112 林110 "
    "高108 罗105 郑98 梁92 谢80 宋71 唐69 许64 韩63 冯61 邓60 曹58 彭56 曾55 肖53 田52 董51 袁50 潘49 于48 蒋47 "
    "蔡46 余45 杜44 叶43 程42 苏41 魏40 吕39 丁38 任37 沈36 姚35 卢34 姜33 崔32 钟31 谭30 陆29 汪28 范27 金26 "
    "石25 廖25 贾24 夏24 韦23 付23 方22 白22 邹21 孟21 熊20 秦20 邱19 江19 尹18 薛18 闫17 段17 雷16 侯16 龙15 "
    "史15 陶14 黎14 贺14 顾13 毛13 郝13 龚12 邵12 万12 钱11 严11 覃11 武11 戴10 莫10 孔10 向10 汤10 常9 温9 "
    "康9 施8 文8 牛8 樊8 葛8 邢8 安7 齐7 易7 乔7 伍7 庞7 颜7 倪7 庄6 聂6 章6 鲁6 岳6 翟6 殷5 詹5 申5 欧5 耿5 "
    "关5 兰5 焦5 俞5 左5 柳5 甘5 祝4 包4 宁4 尚4 符4 舒4 阮4 柯4 纪4 梅4 童4 凌4 毕4 单4 季4 裴4 霍4 涂4 成4 "
    "苗4 谷4 盛3 曲3 翁3 冉3 骆3 蓝3 路3 游3 辛3 靳3 管3 柴3 蒙3 鲍3 华3 喻3 祁3 蒲3 房3 滕3 屈3 饶3 解3 牟3 "
    "艾3 尤3 阳3 时3 穆3 农3 司3 卓3 古3 吉3 缪3 简3 车3 项3 连3 芦3 麦3 褚3 娄3 窦2 戚2 岑2 景2 党2 宫2 费2 "
    "卜2 冷2 晏2 席2 卫2 米2 柏2 宗2 瞿2 桂2 全2 佟2 应2 臧2 闵2 苟2 邬2 边2 卞2 姬2 师2 和2 仇2 栾2 隋2 商2 "
    "刁2 沙2 荣2 巫2 寇2 桑2 郎2 甄2 丛2 仲2 虞2 敖2 巩2 明2 佘2 池2 查2 麻2 苑2 迟2 邝2 "
    "欧阳8 司徒3 上官1 诸葛1 司马1 东方0.5 皇甫0.5 令狐0.3 慕容0.3 尉迟0.2 公孙0.2 端木0.3 夏侯0.3"
)
_SOUTH_BOOST = _table(
    "陈:2.2 黄:2.0 林:2.4 梁:2.0 郑:1.8 谢:1.6 罗:1.6 何:1.5 邓:1.5 冯:1.3 曾:1.8 钟:1.6 温:1.6 卢:1.4 "
    "王:0.5 刘:0.8 赵:0.5 孙:0.5 马:0.6 司徒:4.0 欧阳:1.5"
)
# Given names by generation (born before 1980 / 1980-1994 / from 1995) and gender.
_GIVEN2 = {
    "old": {
        "M": (
            "建国 建华 建军 建平 国强 国华 国庆 志强 志刚 志明 志勇 卫东 卫国 红军 永强 永刚 德明 文斌 海峰 立新 新民 "
            "振华 春生 明亮 长青 宏伟 庆丰 金龙 玉林 保国 建新 国平 学军 文革 向东 跃进 光明 胜利 福生 正平"
        ),
        "F": (
            "秀英 桂英 秀兰 玉兰 桂兰 淑珍 淑华 凤英 玉梅 秀珍 丽华 红梅 春梅 美玲 淑英 小红 海燕 丽萍 建英 玉珍 "
            "翠花 素梅 爱华 丽娟 晓红 金凤 雪梅 桂芳 秀梅 冬梅 玉芬 淑芬 凤兰 桂珍 彩霞 慧芳 素琴 春兰 爱玲 月娥"
        ),
    },
    "mid": {
        "M": (
            "晓东 晓明 海涛 俊杰 文杰 志伟 建伟 家豪 振宇 宇航 晓峰 鹏飞 子健 浩然 明辉 伟峰 俊峰 永康 立伟 凯文 "
            "嘉伟 天宇 博文 亚东 文涛 少华 晨光 锦涛 国栋 云飞 俊宇 雪松 晓龙 志远 鹏程 家乐 思远 文博 伟杰 明宇"
        ),
        "F": (
            "晓燕 晓丽 丽娜 静怡 婷婷 丹丹 雪莹 佳佳 欣怡 晓敏 思思 文静 美玲 丽丽 倩倩 晶晶 雅琴 慧敏 海霞 春燕 "
            "晓婷 玉洁 梦婷 小燕 红霞 艳萍 佳丽 莉莉 晓雯 雅婷 思琪 婉婷 丽君 慧娟 雪梅 静雯 玉婷 晓琳 佳慧 媛媛"
        ),
    },
    "young": {
        "M": (
            "子轩 浩然 宇轩 梓豪 俊熙 子豪 浩宇 皓轩 宇航 博文 子墨 一鸣 思远 天佑 昊天 嘉懿 煜城 懿轩 烨华 铭轩 "
            "宇泽 奕辰 明杰 瑾瑜 鹏涛 晟睿 天翊 泽宇 沐宸 俊宇 子骞 梓睿 浩轩 志泽 嘉乐 子航 睿泽 景行 宇辰 逸飞"
        ),
        "F": (
            "子涵 梓萱 欣怡 诗涵 一诺 语嫣 雨涵 梦琪 紫涵 思琪 佳怡 可馨 若汐 诗琪 雨桐 欣妍 语桐 梓涵 心怡 佳琪 "
            "静雯 思涵 悦然 依诺 雨萱 嘉怡 可欣 晨曦 沐瑶 芷若 梓琪 诗雨 雨欣 思彤 亦菲 静怡 安琪 语涵 若曦 梦瑶"
        ),
    },
}
_GIVEN1 = {
    "M": "伟 强 磊 军 勇 杰 涛 斌 超 明 刚 平 辉 鹏 华 飞 鑫 波 宇 浩 凯 健 俊 帆 帅 旭 宁 龙 林 阳 建 峰 亮 成 东 海 昊 晨 博 "
    "睿 哲 航 毅 坤 彬 晖 康 锋 冰 猛 威 翔 瑞 韬 锐",
    "F": "芳 娜 敏 静 丽 艳 娟 霞 燕 玲 丹 萍 红 婷 雪 琳 晶 颖 慧 莉 倩 洁 佳 欣 怡 雯 璐 瑶 琪 悦 妍 馨 蕾 薇 琴 云 秀 英 "
    "兰 梅 娇 莹 露 蓉 菲 璇 琦 珊",
}
_NAME_PARTS = {  # first and second characters, combined for variety
    "M": (
        "子 浩 宇 俊 志 文 建 家 明 晓 天 嘉 振 永 国 海 鹏 博 泽 一 思 伟 立 德 少 春 金 景 皓 逸",
        "轩 然 杰 豪 伟 明 涛 辉 宇 航 峰 强 东 华 成 龙 鹏 博 睿 晨 林 军 斌 超 凯 康 磊 远 刚 平",
    ),
    "F": (
        "子 欣 诗 雨 思 佳 晓 雅 梦 静 美 丽 婉 嘉 悦 心 可 若 语 紫 慧 秀 玉 春 艳 晶 雪 倩 梓 依",
        "涵 怡 萱 琪 婷 雯 琳 妍 颖 娜 洁 敏 瑶 彤 欣 悦 菲 璐 曼 蕾 霞 燕 玲 丹 萍 娟 芳 莉 慧 茹",
    ),
}
_FOREIGN_NAMES = (
    "Michael Brown|Emma Wilson|James Taylor|Olivia Smith|Daniel Johnson|Sophie Martin|Lukas Müller|Anna Schmidt|"
    "Thomas Dubois|Camille Laurent|Marco Rossi|Giulia Bianchi|David García|Lucía Fernández|Ethan Clarke|"
    "Chloe Nguyen|Ryan Lee|Hannah Kim|佐藤健太|鈴木美咲|高橋翔|田中優子|KIM MINJUN|PARK JIYEON|Arjun Sharma|"
    "Priya Patel|Ivan Petrov|Olga Ivanova|Nattapong Srisuk|Nguyen Van Anh"
).split("|")
# Passport number shapes of some common countries: L = letter, D = digit, others literal.
_PASSPORT_SHAPES = "DDDDDDDDD DDDDDDDDD CLDDLDDLD LLDDDDDDD MDDDDDDDD DDLLDDDDD KDDDDDDDL LDDDDDDD LLDDDDDD EDDDDDDDD".split()
_MOBILE_PREFIXES = (
    "134 135 136 137 138 139 147 150 151 152 157 158 159 172 178 182 183 184 187 188 195 197 198 "  # 移动
    "130 131 132 145 155 156 166 175 176 185 186 196 "  # 联通
    "133 149 153 173 177 180 181 189 190 191 193 199"  # 电信
).split()
_HMT_AREAS = (("810000", 5), ("820000", 1), ("830000", 3))


def _weighted(pairs: Sequence[tuple[object, float]]) -> tuple[list, list[float]]:
    values = [p[0] for p in pairs]
    return values, list(itertools.accumulate(p[1] for p in pairs))


def _pick(rng: random.Random, table: tuple[list, list[float]]):
    values, cum = table
    return values[bisect.bisect_right(cum, rng.random() * cum[-1])]


def _surname_tables() -> dict[bool, tuple[list, list[float]]]:
    pairs = [(m.group(1), float(m.group(2))) for m in re.finditer(r"(\D+?)([\d.]+)\s*", _SURNAMES)]
    south = [(s, w * _SOUTH_BOOST.get(s, 1.0)) for s, w in pairs]
    return {False: _weighted(pairs), True: _weighted(south)}


_SURNAME_TABLES = _surname_tables()


@lru_cache(maxsize=1)
def counties() -> dict[str, list[tuple[str, tuple[tuple[int, int], ...]]]]:
    """Province code → [(6-digit county code, ((from year, to year), …))] from stdnum's GB/T 2260 table.

    Prefecture codes ("xxxx00") count only for cities without counties of their own (东莞 441900).
    """
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    entry = re.compile(r'^  (\d{4}) county="([^"]+)"')
    period = re.compile(r"^(?:\[(\d*)-(\d*)\])?(.+)$")
    by_province: dict[str, list[tuple[str, tuple[tuple[int, int], ...]]]] = {}
    province = ""
    prefectures: dict[str, tuple[tuple[int, int], ...]] = {}
    has_children: set[str] = set()
    for line in text.splitlines():
        if re.match(r"^\d{2} ", line):
            province = line[:2]
            continue
        m = entry.match(line)
        if not m or province not in _PROVINCE_POP:
            continue
        code, spec = province + m.group(1), m.group(2)
        periods = []
        for part in spec.split(","):
            pm = period.match(part)
            start, end, name = pm.groups()
            if name in {"市辖区", "县"} or "直辖" in name or name.endswith("省"):
                continue
            periods.append((int(start) if start else 1900, int(end) if end else 9999))
        if not periods or code.endswith("0000"):
            continue
        if code.endswith("00"):
            prefectures[code] = tuple(periods)
            continue
        has_children.add(code[:4])
        by_province.setdefault(province, []).append((code, tuple(periods)))
    for code, periods in prefectures.items():
        if code[:4] not in has_children:
            by_province.setdefault(code[:2], []).append((code, periods))
    return by_province


def _county(rng: random.Random, province: str, year: int) -> str:
    """A county code of ``province`` that existed in ``year`` (the person's birth year)."""
    options = counties()[province]
    for _ in range(12):
        code, periods = options[rng.randrange(len(options))]
        if any(a <= year <= b for a, b in periods):
            return code
    # Provinces founded later (重庆 1997, 海南 1988): older people were registered elsewhere.
    valid = [c for c, periods in options if any(a <= year <= b for a, b in periods)]
    if valid:
        return valid[rng.randrange(len(valid))]
    fallback = {"50": "51", "46": "44"}.get(province, province)
    return _county(rng, fallback, year) if fallback != province else options[0][0]


def _origin_tables() -> dict[str, tuple[list, list[float]]]:
    total = sum(_PROVINCE_POP.values())
    tables = {}
    for city, bias in _ORIGIN_BIAS.items():
        rest = 1.0 - sum(bias.values())
        weights = {p: rest * pop / total + bias.get(p, 0.0) for p, pop in _PROVINCE_POP.items()}
        tables[city] = _weighted(sorted(weights.items()))
    return tables


_ORIGINS = _origin_tables()
_TYPE_TABLES = {segment: _weighted(pairs) for segment, pairs in _TYPES.items()}
_LEAVE_TABLE = _weighted(_LEAVE_REASONS)
_HMT_TABLE = _weighted(_HMT_AREAS)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _era(birth: dt.date) -> str:
    return "old" if birth.year < 1980 else "mid" if birth.year < 1995 else "young"


# --- the generator -----------------------------------------------------------------------------


def allocate(total: int, shares: Sequence[float]) -> list[int]:
    """Split ``total`` by ``shares`` (largest remainder): the counts add up to ``total`` exactly."""
    norm = sum(shares)
    exact = [total * s / norm for s in shares]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def entity_headcounts(employees: int) -> dict[str, int]:
    """How many people (roster rows) each entity gets."""
    return dict(zip(ENTITY_CODES, allocate(employees, [e.share for e in _ENTITIES]), strict=True))


def city_headcounts(employees: int) -> dict[str, int]:
    out = dict.fromkeys(CITIES, 0)
    for e in _ENTITIES:
        out[e.city] += entity_headcounts(employees)[e.code]
    return out


class _Generator:
    def __init__(self, employees: int, seed: int, as_of: dt.date) -> None:
        if employees < 0:
            raise ValueError("employees must be >= 0")
        self.n = employees
        self.seed = seed
        self.as_of = as_of
        self.rng = random.Random(f"shebao-demo:{seed}")
        self.window_start = _add_years(as_of, -3)
        self.used_ids: set[str] = set()
        self.used_phones: set[str] = set()

    # entities and departments

    def entities(self) -> list[EntitySpec]:
        out = []
        for e in _ENTITIES:
            rng = random.Random(f"shebao-demo:{self.seed}:{e.code}")
            out.append(
                EntitySpec(
                    e.code,
                    e.name,
                    e.city,
                    e.province,
                    e.district,
                    e.kind,
                    e.share,
                    uscc=make_uscc(e.district, rng),
                    si_unit_no=e.district + "".join(rng.choice("0123456789") for _ in range(8)),
                    hf_unit_no=e.district[:4] + "".join(rng.choice("0123456789") for _ in range(10)),
                )
            )
        return out

    def departments(self, entity: EntitySpec, people: int) -> list[DepartmentSpec]:
        if entity.kind == "office":
            out = []
            for i, (name, role, weight, children) in enumerate(_OFFICE_TEMPLATES[entity.code], 1):
                out.append(DepartmentSpec((entity.code, name), name, "department", role, weight, f"D{i:02d}"))
                for j, (cname, crole, cweight) in enumerate(children, 1):
                    out.append(
                        DepartmentSpec(
                            (entity.code, name, cname),
                            cname,
                            "department",
                            crole,
                            cweight,
                            f"D{i:02d}{j:02d}",
                        )
                    )
            return out
        out = [
            DepartmentSpec((entity.code, name), name, "department", role, weight, f"D{i:02d}")
            for i, (name, role, weight) in enumerate(_RETAIL_OFFICE, 1)
        ]
        office_weight = sum(w for _, _, w in _RETAIL_OFFICE)
        active_store_staff = people * (1 - _RETAIL_OFFICE_SHARE) / (1 + 3 * _HAZARD[("retail", "full_time")])
        areas = _STORE_AREAS[entity.city]
        names = [
            (district, f"{place}{mall}店")
            for district, places in areas
            for mall in _MALLS
            for place in places
        ]
        stores = max(2, min(len(names), round(active_store_staff / _STORE_SIZE)))
        rng = random.Random(f"shebao-demo:{self.seed}:{entity.code}:stores")
        # Street stores first (the brand's oldest), then mall stores in a shuffled order.
        street = [n for n in names if not any(n[1].endswith(m + "店") for m in _MALLS if m)]
        malls = [n for n in names if n not in street]
        rng.shuffle(street)
        rng.shuffle(malls)
        chosen = (street + malls)[:stores]
        store_weights = [rng.uniform(0.6, 1.6) for _ in chosen]
        scale = office_weight * (1 - _RETAIL_OFFICE_SHARE) / _RETAIL_OFFICE_SHARE / sum(store_weights)
        by_district: dict[str, list[tuple[str, float]]] = {}
        for (district, store), weight in zip(chosen, store_weights, strict=True):
            by_district.setdefault(district, []).append((store, weight * scale))
        n = 0
        for b, (district, _places) in enumerate(areas, 1):
            if district not in by_district:
                continue
            branch = f"{district}区域"
            out.append(DepartmentSpec((entity.code, branch), branch, "branch", "store_ops", 0.0, f"R{b:02d}"))
            for store, weight in sorted(by_district[district]):
                n += 1
                out.append(
                    DepartmentSpec((entity.code, branch, store), store, "store", "store", weight, f"S{n:04d}")
                )
        return out

    # people

    def _gender(self, role: str) -> str:
        return "F" if self.rng.random() < _FEMALE_SHARE[role] else "M"

    def _age(self, segment: str, emp_type: str) -> float:
        rng = self.rng
        if emp_type == "intern":
            return rng.uniform(19.5, 24.5)
        if emp_type == "part_time":
            return rng.triangular(18, 50, 21)
        if emp_type == "foreign":
            return rng.triangular(24, 59, 34)
        if segment == "retail":
            return rng.triangular(18, 56, 24)
        return rng.triangular(21, 58, 30)

    def _birth(self, age: float) -> dt.date:
        oldest = _add_years(self.as_of, -61) + dt.timedelta(days=1)  # 60 years old at most
        youngest = _add_years(self.as_of, -18)
        birth = self.as_of - dt.timedelta(days=int(age * 365.25))
        return min(max(birth, oldest), youngest)

    def _name(self, gender: str, birth: dt.date, south: bool) -> str:
        rng = self.rng
        surname = _pick(rng, _SURNAME_TABLES[south])
        era = _era(birth)
        r = rng.random()
        single = {"old": 0.22, "mid": 0.30, "young": 0.12}[era]
        if len(surname) > 1 or r >= single:
            if rng.random() < 0.55:
                given = rng.choice(_GIVEN2[era][gender].split())
            else:
                first, second = _NAME_PARTS[gender]
                a, b = rng.choice(first.split()), rng.choice(second.split())
                given = a + b if a != b else a + rng.choice(_GIVEN1[gender].split())
        else:
            given = rng.choice(_GIVEN1[gender].split())
        return surname + given

    def _phone(self) -> str:
        rng = self.rng
        while True:
            phone = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            if phone not in self.used_phones:
                self.used_phones.add(phone)
                return phone

    def _gb11643(self, area: str, birth: dt.date, gender: str) -> tuple[str, int]:
        """A unique 18-digit number and its sequence code (odd for men)."""
        rng = self.rng
        while True:
            seq = rng.randrange(500) * 2 + (1 if gender == "M" else 0)
            number = make_resident_id(area, birth, seq)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number, seq

    def _passport(self) -> str:
        rng = self.rng
        while True:
            shape = rng.choice(_PASSPORT_SHAPES)
            number = "".join(
                rng.choice("0123456789")
                if c == "D"
                else rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
                if c == "L"
                else c
                for c in shape
            )
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def _wage(self, city: str, role: str, emp_type: str, age: float) -> Decimal:
        rng = self.rng
        if emp_type == "part_time":
            monthly = rng.uniform(1600, 3600) * (0.8 + 0.2 * _CITY_WAGE[city])
        else:
            median, sigma = _ROLE_WAGE[role]
            monthly = median * _CITY_WAGE[city] * math.exp(rng.gauss(0, sigma))
            if role == "store" and rng.random() < 0.06:  # store managers and deputies
                monthly *= 1.8
            if emp_type == "intern":
                monthly = min(max(monthly * 0.3, 2500), 8000)
            elif emp_type == "retiree_rehire":
                monthly *= 0.6
            elif emp_type == "foreign":
                monthly *= 1.8
            else:
                monthly *= min(max(1 + 0.025 * (age - 27), 0.85), 1.5)
        return Decimal(max(round(monthly / 10) * 10, 1000)).quantize(Decimal("0.01"))

    def _tenure_end(self, start: dt.date, segment: str, emp_type: str) -> dt.date:
        hazard = _HAZARD[(segment, emp_type)]
        years = self.rng.expovariate(hazard)
        if emp_type == "intern":
            years = min(years, 1.0)  # internships end
        return start + dt.timedelta(days=max(7, int(years * 365)))

    def _leave(self, hire: dt.date, segment: str, emp_type: str) -> tuple[dt.date | None, str]:
        """Leave date and reason: past ones, and a few with notice given (in the next month)."""
        end = self._tenure_end(max(hire, self.window_start), segment, emp_type)
        if end > self.as_of + dt.timedelta(days=30) or hire > self.as_of:
            return None, ""
        if emp_type == "intern":
            reason = "实习期满"
        elif emp_type == "retiree_rehire":
            reason = "返聘协议到期"
        elif (end - hire).days < 180 and self.rng.random() < 0.15:
            reason = "试用期内离职"
        else:
            reason = _pick(self.rng, _LEAVE_TABLE)
        return end, reason

    def _hire(self, birth: dt.date, emp_type: str, long_timer: bool) -> dt.date:
        rng = self.rng
        earliest = _add_years(birth, 50 if emp_type == "retiree_rehire" else 18)
        if long_timer:
            start = max(_add_years(self.as_of, -16), _add_years(birth, 21))
            end = self.window_start - dt.timedelta(days=1)
        else:
            start, end = max(self.window_start, earliest), self.as_of + dt.timedelta(days=14)
        if start > end:
            start = end = max(earliest, self.window_start)
        return start + dt.timedelta(days=rng.randrange((end - start).days + 1))

    def people(self, entities: list[EntitySpec], departments: list[DepartmentSpec]) -> list[PersonSpec]:
        rng = self.rng
        counts = entity_headcounts(self.n)
        depts_by_entity: dict[str, tuple[list, list[float]]] = {}
        for e in entities:
            own = [d for d in departments if d.entity_code == e.code and d.weight > 0]
            depts_by_entity[e.code] = _weighted([(d, d.weight) for d in own])
        # Quotas keep the rare cases present (and their counts stable) however small N is.
        quota = {
            "legacy15": round(self.n * 0.01),
            "foreign": round(self.n * 0.005),
            "hmt": round(self.n * 0.002) or (1 if self.n >= 100 else 0),
            "rehire": round(self.n * 0.015) or (1 if self.n >= 50 else 0),
        }
        office_slots = [(e, i) for e in entities if e.kind == "office" for i in range(counts[e.code])]
        retail_slots = [(e, i) for e in entities if e.kind == "retail" for i in range(counts[e.code])]
        slots = office_slots + retail_slots
        special: dict[int, str] = {}
        office_idx = list(range(len(office_slots))) or list(range(len(slots)))
        for i in rng.sample(office_idx, min(quota["foreign"], len(office_idx))):
            special[i] = "foreign"
        rest = [i for i in range(len(slots)) if i not in special]
        for i in rng.sample(rest, min(quota["hmt"], len(rest))):
            special[i] = "hmt"

        drafts = []
        for i, (entity, _k) in enumerate(slots):
            dept = _pick(rng, depts_by_entity[entity.code])
            segment = "retail" if dept.kind == "store" else "office"
            kind = special.get(i, "resident")
            emp_type = "foreign" if kind == "foreign" else _pick(rng, _TYPE_TABLES[segment])
            gender = "F" if emp_type == "retiree_rehire" else self._gender(dept.role)
            if emp_type == "retiree_rehire":
                age = rng.uniform(51, 60.9)
            else:
                age = self._age(segment, emp_type)
            birth = self._birth(age)
            long_timer = (
                emp_type == "full_time"
                and age >= 32
                and rng.random() < (0.12 if segment == "office" else 0.04)
            )
            hire = self._hire(birth, emp_type, long_timer)
            leave, reason = self._leave(hire, segment, emp_type)
            drafts.append(
                {
                    "entity": entity,
                    "dept": dept,
                    "segment": segment,
                    "kind": kind,
                    "type": emp_type,
                    "gender": gender,
                    "age": age,
                    "birth": birth,
                    "hire": hire,
                    "leave": leave,
                    "reason": reason,
                }
            )

        # Legacy 15-digit numbers: older residents (born before 1990) keep them in old records. One
        # of them (two from 1000 people) is a full-time employee of two months' standing or more,
        # so that the demo shows an upgraded number the government data does not confirm (the
        # platform simulator holds one such person by personal account only).
        eligible = [i for i, d in enumerate(drafts) if d["kind"] == "resident" and d["birth"].year < 1990]
        wanted = min(quota["legacy15"], len(eligible))
        settled_before = self.as_of - dt.timedelta(days=61)
        settled = [
            i
            for i in eligible
            if drafts[i]["type"] == "full_time"
            and drafts[i]["leave"] is None
            and drafts[i]["hire"] <= settled_before
        ]
        chosen = rng.sample(settled, min(wanted, len(settled), 2 if self.n >= 1000 else 1))
        rest = sorted(set(eligible) - set(chosen))
        for i in chosen + rng.sample(rest, wanted - len(chosen)):
            drafts[i]["kind"] = "legacy15"
        # Rehires: people who left at least three months ago come back for a second spell.
        cutoff = self.as_of - dt.timedelta(days=90)
        eligible = [
            i for i, d in enumerate(drafts) if d["leave"] and d["leave"] <= cutoff and d["type"] != "intern"
        ]
        rehired = set(rng.sample(eligible, min(quota["rehire"], len(eligible))))

        spells_by_entity: dict[str, list[tuple[dt.date, int, int]]] = {}
        person_spells: list[list[dict]] = []
        for i, d in enumerate(drafts):
            entity, segment = d["entity"], d["segment"]
            spells = [
                {
                    "dept": d["dept"],
                    "type": d["type"],
                    "hire": d["hire"],
                    "leave": d["leave"],
                    "reason": d["reason"],
                    "wage": self._wage(entity.city, d["dept"].role, d["type"], d["age"]),
                }
            ]
            if i in rehired:
                hire2 = d["leave"] + dt.timedelta(days=rng.randint(60, 540))
                hire2 = min(hire2, self.as_of + dt.timedelta(days=14))
                same = [x for x in depts_by_entity[entity.code][0] if x.role == d["dept"].role]
                dept2 = rng.choice(same) if same and rng.random() < 0.5 else d["dept"]
                leave2, reason2 = self._leave(hire2, segment, d["type"])
                spells.append(
                    {
                        "dept": dept2,
                        "type": d["type"],
                        "hire": hire2,
                        "leave": leave2,
                        "reason": reason2,
                        "wage": self._wage(entity.city, dept2.role, d["type"], d["age"]) * Decimal("1.05"),
                    }
                )
            person_spells.append(spells)
            for j, s in enumerate(spells):
                spells_by_entity.setdefault(entity.code, []).append((s["hire"], i, j))

        # Employee numbers: per entity, in order of hire.
        numbers: dict[tuple[int, int], str] = {}
        for code, items in spells_by_entity.items():
            for k, (_hire, i, j) in enumerate(sorted(items), 1):
                numbers[(i, j)] = f"{code}{k:06d}"

        people = []
        for i, d in enumerate(drafts):
            entity = d["entity"]
            origin = _pick(rng, _ORIGINS[entity.city])
            birth, gender = d["birth"], d["gender"]
            kind = d["kind"]
            if kind == "foreign":
                name, id_kind, number, hukou = (
                    rng.choice(_FOREIGN_NAMES),
                    IdKind.PASSPORT.value,
                    self._passport(),
                    "",
                )
            elif kind == "hmt":
                area = _pick(rng, _HMT_TABLE)
                number, _seq = self._gb11643(area, birth, gender)
                name, id_kind, hukou = self._name(gender, birth, True), IdKind.HMT_RESIDENCE.value, ""
            else:
                area = _county(rng, origin, birth.year)
                name = self._name(gender, birth, origin in _SOUTH)
                id_kind = IdKind.RESIDENT.value
                full, seq = self._gb11643(area, birth, gender)
                number = make_legacy15_id(area, birth, seq) if kind == "legacy15" else full
                local = origin == entity.province
                urban_share = 0.75 if d["segment"] == "office" else 0.35
                if not local and d["segment"] == "office" and rng.random() < 0.2:
                    local = True  # moved their hukou to the city
                hukou = ("local_" if local else "nonlocal_") + (
                    "urban" if rng.random() < urban_share else "rural"
                )
            spells = tuple(
                SpellSpec(
                    entity.code,
                    s["dept"].key,
                    numbers[(i, j)],
                    s["type"],
                    s["hire"],
                    s["leave"],
                    s["reason"],
                    s["wage"].quantize(Decimal("0.01")),
                )
                for j, s in enumerate(person_spells[i])
            )
            people.append(PersonSpec(name, id_kind, number, birth, gender, self._phone(), hukou, spells))
        return people


def generate(*, employees: int, seed: int = 2026, as_of: dt.date | None = None) -> DemoOrganisation:
    """The synthetic organisation for ``employees`` people: identical for identical arguments."""
    as_of = as_of or dt.date.today()
    gen = _Generator(employees, seed, as_of)
    entities = gen.entities()
    counts = entity_headcounts(employees)
    departments = [d for e in entities for d in gen.departments(e, counts[e.code])]
    org = DemoOrganisation(seed=seed, as_of=as_of, entities=entities, departments=departments)
    org.people = gen.people(entities, departments)
    return org
