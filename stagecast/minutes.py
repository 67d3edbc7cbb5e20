"""Meeting minutes as plain text to decisions and action items (SPEC §3).

A line is a decision when, once list bullets and leading whitespace are gone, it starts with
`决定` or `Decision` and a colon (ASCII or full-width); an action item when it starts with
`待办`, `TODO` or `Action` and a colon. Case does not matter. Pure: text in, `MinuteItem`s out.

An action item's line also says, in the forms people write in minutes, who owns it, by when,
and whether it is done (`split_action`); the item keeps the rest of the line as its text:

- owner: `@张三`, `[Li Na]` or `【张三】` first, `负责人：张三` / `owner: Li Na` anywhere (in
  brackets or before a comma), or a name then a colon or dash first (`李娜：…`,
  `Zhang San — …`), or an English `Zhang San to …`. Without the `@`, brackets or label, a name
  must look like one: a Chinese name starts with a common surname (2–4 characters, `王工`
  too), an English one is two or three capitalised words — so `接口文档：…` or `Backend: …`
  keep their words;
- due date: a date after `by`, `due`, `before`, `deadline`, `截止`, `截至`, `期限`, `最迟`,
  `DDL`, or before `前`/`之前`/`以前`: `2026-11-25` (or `/`, `.`), `2026年11月25日`,
  `11月25日` (`号`), `25 Nov`, `Nov 25`, `November 25, 2026`, `11/25` (month first). A date
  without a year takes the minutes' year (the next one when that would put it more than 90
  days before the meeting); without a meeting date it is left in the text. Weekdays
  (`周五前`, `by Friday`) are not dates and stay in the text;
- done: a ticked box or check mark before it (`[x]`, `☑`, `✓`, `✔`, `✅`), or `(done)`,
  `[done]`, `（已完成）`, `【完成】`… anywhere, or at its end `, done` / `— done` or
  `已完成` after a space or separator (`make sure it is done` is still open). Everything
  else is open.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal, NamedTuple

from stagecast.models import MinuteItem

MinuteKind = Literal["decision", "action"]

__all__ = [
    "ActionParts",
    "MinuteKind",
    "classify_line",
    "meeting_date",
    "parse_minutes",
    "split_action",
    "strip_bullets",
]

# One list marker at the start of a line, as people type them and as Google Docs exports them:
# symbols, `1.` `1)` `1、` `(1)` `（1）`, circled numbers, `a.`, `一、`, and checkboxes.
_BULLET = re.compile(
    r"""^(?:
        [-*•·‣◦▪▫●○■□◆◇▸►✓✔✅–—+>]\ufe0f?
      | \d{1,3}(?:\.\d{1,3})*[.)、．）]
      | [(（]\s*(?:\d{1,3}|[a-zA-Z]|[一二三四五六七八九十]{1,3})\s*[)）]
      | [①-⑳⑴-⒇⒈-⒛]
      | [a-zA-Z][.)](?=\s)
      | [一二三四五六七八九十]{1,3}[、.．]
      | \[[ xX✓✔]?\]
      | [☐☑☒]\ufe0f?
    )\s*""",
    re.VERBOSE,
)
# The markers among those that tick an item off.
_TICK = re.compile(r"^(?:\[[xX✓✔]\]|[☑☒✓✔✅])")

_KINDS: tuple[tuple[MinuteKind, re.Pattern[str]], ...] = (
    ("decision", re.compile(r"^(?:决定|decision)\s*[:：]\s*(?P<text>.*)$", re.IGNORECASE)),
    ("action", re.compile(r"^(?:待办|todo|action)\s*[:：]\s*(?P<text>.*)$", re.IGNORECASE)),
)

# A date as written in a minutes title or header: 2026-11-18, 2026/11/18, 2026.11.18,
# 20261118, 2026年11月18日.
_DATE = re.compile(
    r"(?<!\d)(?P<y>20\d{2})(?:(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"|年\s*(?P<cm>\d{1,2})\s*月\s*(?P<cd>\d{1,2})\s*日"
    r"|(?P<cm8>\d{2})(?P<cd8>\d{2}))(?!\d)"
)
_DATE_LINE = re.compile(
    r"^(?:日期|会议日期|时间|会议时间|date|meeting date)\s*[:：]", re.IGNORECASE
)

# --- action items: done marks, due dates, owners --------------------------------------------

_DONE_WORDS = r"done|completed|closed|finished|已完成|完成|已关闭|已解决|已办结"
_DONE = re.compile(
    rf"[(（\[【]\s*(?:{_DONE_WORDS})\s*[)）\]】]"  # (done), 【已完成】 anywhere
    rf"|^(?:\[[xX✓✔]\]|[☑☒✓✔✅]\ufe0f?)\s*"  # a tick before the text
    r"|^(?:done|已完成)\s*[:：—–-]\s*"  # done: …
    r"|[,，;；—–-]\s*done\s*[.!]?\s*$|(?:^|[\s,，;；—–-])已完成\s*[。！]?\s*$"  # … — done
    r"|\s*[✓✔✅]\ufe0f?\s*$",  # … ✓
    re.IGNORECASE,
)
_OPEN_BOX = re.compile(r"^(?:\[ ?\]|☐)\s*")

_MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTH_NAMES, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th)?"
_DUE_DATE = (
    r"(?<![\d/.-])(?:"
    r"(?P<y1>20\d{2})\s*[-/.]\s*(?P<m1>\d{1,2})\s*[-/.]\s*(?P<d1>\d{1,2})(?!\d)"
    r"|(?:(?P<y2>20\d{2})\s*年\s*)?(?P<m2>\d{1,2})\s*月\s*(?P<d2>\d{1,2})(?!\d)\s*[日号]?"
    rf"|(?P<d3>\d{{1,2}}){_ORDINAL}\s+(?P<n3>{_MONTH})\b\.?(?:,?\s+(?P<y3>20\d{{2}})(?!\d))?"
    rf"|(?P<n4>{_MONTH})\b\.?\s+(?P<d4>\d{{1,2}}){_ORDINAL}(?!\d)(?:,?\s+(?P<y4>20\d{{2}})(?!\d))?"
    r"|(?P<m5>\d{1,2})/(?P<d5>\d{1,2})(?![\d/])"
    r")"
)
# `前端` (front end), `前台`… after a date are not "before".
_BEFORE = r"(?:之前|以前|前(?![端台置期后]))"
# A due date: a date after a word that says so, or before `前`; a bare date is not one.
_DUE = re.compile(
    r"(?P<pre>(?:\b(?:due(?:\s+(?:by|on|date))?|by|before|deadline|until|ddl)\b"
    r"|截止(?:日期|时间)?|截至|期限|最迟|最晚)\s*(?:到|至|于)?\s*[:：]?\s*|(?:于|在)\s*)?"
    rf"{_DUE_DATE}(?P<post>\s*{_BEFORE})?",
    re.IGNORECASE,
)


def _words(text: str) -> frozenset[str]:
    """A set of words written as one line of text, as they read."""
    return frozenset(text.split())


# The commonest Chinese surnames (they cover most people), two-character ones first.
_SURNAMES = (
    "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐|端木|"
    "[王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
    "郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰"
    "焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁"
    "蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂"
    "全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池乐匡钮]"
)
_CHINESE_NAME = rf"(?:(?:{_SURNAMES})[\u4e00-\u9fff]{{1,2}})"
# Words that start with a surname and are not people: seen before a colon in minutes.
_NOT_NAMES = _words(
    "任务 文档 文件 文案 文本 范围 方案 方式 方法 方向 时间 程序 安排 安全 "
    "成本 金额 余额 严重 许可 高优 常规 周一 周二 周三 周四 周五 周六 周日 "
    "周天 周末 明天 明日 明确 明细 全部 全员 全体 全面 应急 项目 单元 解决 "
    "管理 关于 关键 包括 程度 商务 沙箱 路由 连接 简报 马上"
)
_ENGLISH_NAME = r"(?:[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]+){1,2})"
_ANY_NAME = (
    r"(?:[\u4e00-\u9fff·]{2,5}"
    r"|[A-Za-z][A-Za-z'’.-]*(?:\s+[A-Za-z][A-Za-z'’.-]*){0,2})"
)
_LABEL = re.compile(
    r"(?:负责人|责任人|跟进人|owner|assignee)\s*[:：]\s*"
    rf"(?P<name>{_ANY_NAME})\s*(?=[，,；;。)\]）】]|$)",
    re.IGNORECASE,
)
_MENTION = re.compile(r"(?<![\w.@])@(?P<name>[^\s@,，;；:：()（）\[\]【】<>]+)")
_BRACKETED = re.compile(rf"^[\[【]\s*(?P<name>{_ANY_NAME})\s*[\]】]\s*(?:[:：]|[-–—]+)?\s*")
_LEADING = re.compile(
    rf"^(?P<name>{_CHINESE_NAME}|{_ENGLISH_NAME})"
    r"(?:\s*[:：]\s*|\s+[-–—]+\s+|\s*[—–]+\s*|\s+to\s+(?=\S))"
)
_NOT_MENTIONS = frozenset({"all", "everyone", "here", "channel", "所有人", "全体成员"})
_NOT_BRACKETED = _words(
    "urgent important blocker blocked done todo wip tbd open closed optional high medium low "
    "new update fyi note info draft"
)
_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+(?=[,，;；.。!！?？)）\]】])")
_SEPARATOR_IN_BRACKETS = re.compile(r"(?<=[(（\[【])\s*[，,；;]\s*|\s*[，,；;]\s*(?=[)）\]】])")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|（\s*）|\[\s*\]|【\s*】")
_EDGES = "，,；;:：—–- \t"


class ActionParts(NamedTuple):
    """An action item's line taken apart: its words, who owns it, by when, whether done."""

    text: str
    owner: str | None
    due: date | None
    done: bool


def strip_bullets(line: str) -> str:
    """The line without leading whitespace and list markers, however many are nested."""
    return _bullets(line)[0]


def _bullets(line: str) -> tuple[str, bool]:
    """The line without its list markers, and whether one of them ticks the item off."""
    text = line.lstrip("\ufeff").strip()
    ticked = False
    while True:
        match = _BULLET.match(text)
        if match is None or not match.group(0):
            return text, ticked
        ticked = ticked or _TICK.match(match.group(0)) is not None
        text = text[match.end() :].lstrip()


def classify_line(line: str) -> tuple[MinuteKind, str] | None:
    """`("decision" | "action", text)` for a minutes line that records one, else None."""
    text = strip_bullets(line)
    for kind, pattern in _KINDS:
        match = pattern.match(text)
        if match is not None:
            found = match.group("text").strip()
            return (kind, found) if found else None
    return None


def parse_minutes(
    text: str, *, document: str, url: str | None, day: date | None, source: str = ""
) -> tuple[MinuteItem, ...]:
    """Every decision and action item of one minutes document, in reading order; `day` is
    the meeting's date, which also dates a due date written without its year."""
    items: list[MinuteItem] = []
    for line in text.splitlines():
        found = classify_line(line)
        if found is None:
            continue
        kind, item = found
        if kind == "decision":
            items.append(
                MinuteItem(kind, item, document=document, url=url, date=day, source=source)
            )
            continue
        parts = split_action(item, day, ticked=_bullets(line)[1])
        items.append(
            MinuteItem(
                kind,
                parts.text,
                document=document,
                url=url,
                date=day,
                source=source,
                owner=parts.owner,
                due=parts.due,
                done=parts.done,
            )
        )
    return tuple(items)


def split_action(text: str, day: date | None, *, ticked: bool = False) -> ActionParts:
    """An action item's owner, due date and done mark, and its text without them.

    `day` is the meeting's date (for a date written without its year); `ticked` says the
    line's own bullet ticked it off. A part that cannot be read stays in the text.
    """
    rest, done = _done(text)
    rest, due = _due(rest, day)
    rest, owner = _owner(rest)
    words = _tidy(rest)
    return ActionParts(words or text.strip(), owner, due, done or ticked)


def _done(text: str) -> tuple[str, bool]:
    """The text without its done marks, and whether it had one; an open box just goes."""
    text = _OPEN_BOX.sub("", text.strip())
    cleaned, marks = _DONE.subn(" ", text)
    return (cleaned, True) if marks else (text, False)


def _due(text: str, day: date | None) -> tuple[str, date | None]:
    """The first due date the text states, and the text without it."""
    for match in _DUE.finditer(text):
        said = match.group("post") or (match.group("pre") or "").strip() not in ("", "于", "在")
        found = _due_date(match, day) if said else None
        if found is not None:
            return text[: match.start()] + " " + text[match.end() :], found
    return text, None


def _due_date(match: re.Match[str], day: date | None) -> date | None:
    """The date a `_DUE` match names, or None when it is no calendar date."""
    g = match.groupdict()
    year = g["y1"] or g["y2"] or g["y3"] or g["y4"]
    month_name = g["n3"] or g["n4"]
    month = _MONTH_NAMES[month_name.casefold()] if month_name else None
    month = month or int(g["m1"] or g["m2"] or g["m5"])
    dom = int(g["d1"] or g["d2"] or g["d3"] or g["d4"] or g["d5"])
    if year is not None:
        return _date(int(year), month, dom)
    if day is None:
        return None
    found = _date(day.year, month, dom)
    if found is not None and found < day - timedelta(days=90):
        found = _date(day.year + 1, month, dom)
    return found


def _date(year: int, month: int, dom: int) -> date | None:
    try:
        return date(year, month, dom)
    except ValueError:
        return None


def _owner(text: str) -> tuple[str, str | None]:
    """Who owns the item, in the first form that names someone, and the text without it."""
    text = text.strip()
    label = _LABEL.search(text)
    if label is not None:
        return _cut(text, label), label.group("name").strip()
    for mention in _MENTION.finditer(text):
        name = mention.group("name").rstrip(".。,，!！")
        if name and name.casefold() not in _NOT_MENTIONS:
            return _cut(text, mention), name
    bracketed = _BRACKETED.match(text)
    if bracketed is not None and _bracketed_name(bracketed.group("name")):
        return _cut(text, bracketed), bracketed.group("name").strip()
    leading = _LEADING.match(text)
    if leading is not None and leading.group("name") not in _NOT_NAMES:
        return _cut(text, leading), leading.group("name")
    return text, None


def _bracketed_name(name: str) -> bool:
    """`[Li Na]` and `【张三】` are owners; `[Urgent]`, `【紧急】` and `[P1]` are not."""
    name = name.strip()
    if re.fullmatch(r"[\u4e00-\u9fff·]+", name):
        return re.fullmatch(_CHINESE_NAME, name) is not None and name not in _NOT_NAMES
    return name.casefold() not in _NOT_BRACKETED


def _cut(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " + text[match.end() :]


def _tidy(text: str) -> str:
    """What is left once parts are cut out: no doubled spaces, empty brackets or separators
    dangling at either end."""
    text = _SPACE.sub(" ", text)
    text = _SEPARATOR_IN_BRACKETS.sub("", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    return _SPACE.sub(" ", text).strip(_EDGES)


def _first_date(text: str) -> date | None:
    """The first valid calendar date written in `text`."""
    for match in _DATE.finditer(text):
        year = int(match.group("y"))
        month = match.group("m") or match.group("cm") or match.group("cm8")
        day = match.group("d") or match.group("cd") or match.group("cd8")
        try:
            return date(year, int(month), int(day))
        except ValueError:
            continue
    return None


def meeting_date(name: str, text: str = "") -> date | None:
    """The meeting's own date: from the title, else a `日期：`/`Date:` line near the top.

    Stable when the minutes are edited later, unlike the file's modification time, so an
    item keeps its identity (and is not reported again) when someone adds to the minutes.
    """
    found = _first_date(name)
    if found is not None:
        return found
    for line in text.splitlines()[:15]:
        stripped = strip_bullets(line)
        if _DATE_LINE.match(stripped):
            return _first_date(stripped)
    return None
