"""Rendering a report context into a `Message`: chat markdown, plain text and HTML (SPEC §7).

Templates live in `templates/` at the repository root, one file per report kind and format:
`<kind>.md.j2` (chat), `<kind>.txt.j2` and `<kind>.html.j2` (email), `<kind>.title.j2` (the
subject line), with shared macros. Folders in `template_dirs` come first, file by file, so a team
can replace one template and keep the rest.

Strings are written in English in the templates and translated through the message catalogue
`templates/locale/<locale>/LC_MESSAGES/messages.po`, compiled in memory when first used (no
binary `.mo` is kept in the repository). A `locale/` folder in a template folder adds to it.

Text from sources is escaped for each format, whatever the template does with it:
- HTML: Jinja's autoescape.
- Markdown: every `{{ … }}` value and every `{% trans %}` variable passes through `md_escape`
  unless it is already markup (a macro's output, or a value filtered with `|md`). Joining text
  with `~` or the `join` filter bypasses that, so use `|md` on source text in such expressions.
- Plain text: control characters are dropped and mentions broken (`@` is followed by a
  zero-width space), in case a channel puts the text into a chat notification.

Source text (`SourceText`, made by the context builders) is also cut to the format's limit
(`TEXT_LIMITS`) before it is escaped, so no escape sequence or entity is ever cut in half. Like
the escaping, this holds whatever the template does, except that joining with `~` or `join`
makes new text: such text keeps only the context's own bound (`SOURCE_TEXT_LIMIT`).

Pure apart from reading template and catalogue files.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import date, datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, Protocol

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations
from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    pass_context,
)
from jinja2.bccache import Bucket
from jinja2.runtime import Context
from markupsafe import Markup

from stagecast.models import Message
from stagecast.reports.chart import Chart, chart_images
from stagecast.reports.escape import (
    SourceText,
    break_mentions,
    clip,
    md_escape,
    md_url,
    one_line,
    plain,
)

__all__ = [
    "SECTION_MARKER",
    "TEMPLATES",
    "TEXT_LIMITS",
    "TITLE_LIMIT",
    "ReportContext",
    "join_sections",
    "load_translations",
    "render_report",
    "split_sections",
]

# The checkout's `templates/`; an installed wheel carries them as `stagecast/templates/`.
_CHECKOUT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
TEMPLATES = (
    _CHECKOUT_TEMPLATES
    if _CHECKOUT_TEMPLATES.is_dir()
    else Path(__file__).resolve().parents[1] / "templates"
)
CATALOGUE = Path("LC_MESSAGES") / "messages.po"

# Templates put this line before each section of the markdown; it cannot come from source text,
# which has its `<` escaped, and it is removed from the rendered report.
SECTION_MARKER = "<!-- section -->"
_MARKER_LINE = re.compile(r"^[ \t]*" + re.escape(SECTION_MARKER) + r"[ \t]*(?:\n|$)", re.M)
_HEADING = re.compile(r"^(?=## )", re.M)

Format = Literal["md", "txt", "html"]

# The most characters one piece of source text (a title, a name, a comment) shows in each
# format, "…" included. A chat post is small (WeCom takes 4,096 bytes, a Chinese character is
# 3 of them) and a chat line is read at a glance, so a title there is a line, not a page (Jira's
# own summaries stop at 255); an email has room for a few lines more.
TEXT_LIMITS: Mapping[Format, int] = {"md": 200, "txt": 500, "html": 500}
# The subject line, which chats also show as the notification and the card's header.
TITLE_LIMIT = 200

# Dates as a reader of each language writes them; other languages get the locale's own.
_DATE_PATTERNS: Mapping[str, Mapping[str, str]] = {
    "zh": {"long": "y年M月d日 EEEE", "short": "M月d日", "year": "y年M月d日"},
    "en": {"long": "EEEE, d MMMM y", "short": "d MMM", "year": "d MMM y"},
}
_CLDR_PATTERNS: Mapping[str, str] = {"long": "full", "short": "medium", "year": "medium"}


class ReportContext(Protocol):
    """What the renderer needs of any report's context; templates read the rest."""

    @property
    def project_key(self) -> str: ...

    @property
    def period(self) -> str: ...


def render_report(
    kind: str,
    context: ReportContext,
    *,
    language: str,
    audience: str,
    template_dirs: Sequence[Path] = (),
    chart: Chart | None = None,
) -> Message:
    """Render `<kind>` for one audience in one language, as markdown, plain text and HTML.

    `Message.sections` is the markdown cut before each `## ` section (the header before the first
    one is a section too); `"\\n\\n".join(sections) + "\\n" == markdown`. The HTML is None for a
    kind that has no HTML template. `chart` is the project's burn-up chart, `chart` in the
    templates; `Message.images` holds the images the HTML shows, drawn only then.
    """
    if audience not in ("client", "internal"):
        raise ValueError(f"audience must be client or internal, not {audience!r}")
    dirs = tuple(Path(d) for d in template_dirs)
    variables = {
        "report": context,
        "kind": kind,
        "language": language,
        "audience": audience,
        "today": getattr(context, "date", None),
        "chart": chart,
    }

    def render(fmt: Format, name: str) -> str:
        env = _environment(fmt, language, dirs, _catalogue_stamp(language, dirs))
        return env.get_template(name).render(variables)

    sections = split_sections(render("md", f"{kind}.md.j2"))
    try:
        html: str | None = _tidy(render("html", f"{kind}.html.j2"))
    except TemplateNotFound as exc:
        if exc.name != f"{kind}.html.j2":
            raise
        html = None
    return Message(
        kind=kind,
        project=context.project_key,
        period=context.period,
        audience="client" if audience == "client" else "internal",
        language=language,
        title=clip(one_line(render("txt", f"{kind}.title.j2")), TITLE_LIMIT),
        markdown=join_sections(sections),
        text=_tidy(render("txt", f"{kind}.txt.j2")) + "\n",
        html=html + "\n" if html is not None else None,
        sections=sections,
        images=chart_images(chart, html),
    )


def split_sections(markdown: str) -> tuple[str, ...]:
    """Markdown cut at section boundaries: the template's markers, else before `## ` headings.

    Each part is tidied (no trailing spaces, at most one blank line in a row, no blank lines at
    either end); empty parts are dropped.
    """
    if _MARKER_LINE.search(markdown):
        parts = _MARKER_LINE.split(markdown)
    else:
        parts = _HEADING.split(markdown)
    return tuple(tidy for tidy in (_tidy(p) for p in parts) if tidy)


def join_sections(sections: Sequence[str]) -> str:
    """The whole markdown from its sections: what `split_sections` undoes."""
    return "\n\n".join(sections) + "\n"


def _tidy(text: str) -> str:
    """No trailing spaces, no runs of blank lines, no blank lines at either end."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


# --- environments --------------------------------------------------------------------------


def _catalogue_stamp(language: str, dirs: tuple[Path, ...]) -> tuple[tuple[str, int], ...]:
    """Which catalogue files exist and when they changed: an edited .po is picked up."""
    stamp: list[tuple[str, int]] = []
    for path in _catalogue_paths(language, dirs):
        try:
            stamp.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(stamp)


def _catalogue_paths(language: str, dirs: tuple[Path, ...]) -> list[Path]:
    """Candidate catalogues, lowest priority first: packaged, then the folders last to first."""
    names = _locale_names(language)
    paths: list[Path] = []
    for folder in (TEMPLATES, *reversed(dirs)):
        for name in reversed(names):  # `zh_CN` over `zh`
            paths.append(folder / "locale" / name / CATALOGUE)
    return paths


def _locale_names(language: str) -> list[str]:
    """`zh-CN` → [`zh_CN`, `zh`]; `en` → [`en`]."""
    full = language.replace("-", "_")
    base = full.split("_")[0]
    return [full] if full == base else [full, base]


def load_translations(language: str, template_dirs: Sequence[Path] = ()) -> NullTranslations:
    """The catalogue of a language: packaged, with the template folders' own on top."""
    dirs = tuple(Path(d) for d in template_dirs)
    return _translations(language, dirs, _catalogue_stamp(language, dirs))


@lru_cache(maxsize=32)
def _translations(
    language: str, dirs: tuple[Path, ...], stamp: tuple[tuple[str, int], ...]
) -> NullTranslations:
    """Compiled in memory from the .po files found (the stamp is only a cache key)."""
    merged: Translations | None = None
    locale = _locale_names(language)[0]
    for file, _ in stamp:
        with open(file, "rb") as fp:
            catalog = read_po(fp, locale=locale)
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        loaded = Translations(buffer)
        merged = loaded if merged is None else merged.merge(loaded)
    return merged if merged is not None else NullTranslations()


class CompiledTemplates(BytecodeCache):
    """Compiled templates of one format, shared by its languages (translations are looked up
    as a template renders, so the compiled code is the same for all), kept in memory and, once
    `keep_compiled_templates` names a folder, on disk for the processes after this one: every
    served run is a process of its own, and compiling the templates it renders cost more than
    rendering them. A template whose source changed is compiled again (Jinja checks)."""

    folder: Path | None = None

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self.memory: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        data = self.memory.get(bucket.key) or self._read(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: Bucket) -> None:
        data = bucket.bytecode_to_string()
        self.memory[bucket.key] = data
        self._write(bucket.key, data)

    def _path(self, key: str) -> Path | None:
        return self.folder / f"{self.fmt}-{key}.bin" if self.folder is not None else None

    def _read(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes() if path is not None else None
        except OSError:
            return None

    def _write(self, key: str, data: bytes) -> None:
        """Whole or not at all (a reader never sees half a file); a folder that cannot be
        written only costs the next process the compiling."""
        path = self._path(key)
        if path is None:
            return
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(data)
            os.replace(partial, path)
        except OSError:
            with suppress(OSError):
                partial.unlink(missing_ok=True)


_COMPILED: dict[Format, CompiledTemplates] = {
    fmt: CompiledTemplates(fmt) for fmt in ("md", "txt", "html")
}


def keep_compiled_templates(folder: Path | None) -> None:
    """Keep compiled templates in `folder` too (None: in memory only)."""
    CompiledTemplates.folder = folder


@lru_cache(maxsize=64)
def _environment(
    fmt: Format, language: str, dirs: tuple[Path, ...], stamp: tuple[tuple[str, int], ...]
) -> Environment:
    """One environment per format and language: its escaping, filters and translations."""
    env = Environment(
        loader=FileSystemLoader([*dirs, TEMPLATES]),
        undefined=StrictUndefined,
        autoescape=fmt != "txt",
        finalize=_FINALIZE[fmt],
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_COMPILED[fmt],
    )
    env.policies["ext.i18n.trimmed"] = True
    # Our own gettext callables (below) escape trans variables; they are new-style.
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    translations = _translations(language, dirs, stamp)
    escape_variable = _VARIABLE_ESCAPE[fmt]
    env.globals.update(
        gettext=_gettext(translations, escape_variable),
        ngettext=_ngettext(translations, escape_variable),
    )
    env.filters.update(_locale_filters(language))
    if fmt == "md":
        env.filters.update(md=_md_markup, md_url=lambda url: Markup(md_url(str(url))))
    elif fmt == "txt":
        env.filters.update(plain=lambda value: plain(_clipped(value, "txt")))
    return env


def _clipped(value: object, fmt: Format) -> object:
    """Source text cut to the format's limit; anything else as it is."""
    if isinstance(value, SourceText):
        return clip(value, TEXT_LIMITS[fmt])
    return value


def _md_markup(value: object) -> Markup:
    """Source text made safe for markdown, marked so nothing escapes it twice."""
    if hasattr(value, "__html__"):
        return Markup(value)
    return Markup(md_escape(_clipped(value, "md")))


def _txt_finalize(value: object) -> object:
    """Plain text needs no escaping: control characters other than line breaks are dropped,
    and mentions broken (the text may end up in a chat notification)."""
    value = _clipped(value, "txt")
    if isinstance(value, str):
        return break_mentions(re.sub("[\x00-\x08\x0b-\x1f\x7f-\x9f]", "", value))
    return value


def _html_finalize(value: object) -> object:
    """Source text cut to the email's limit; autoescape escapes it after this."""
    return _clipped(value, "html")


_FINALIZE: Mapping[Format, Callable[[Any], Any]] = {
    "md": _md_markup,
    "txt": _txt_finalize,
    "html": _html_finalize,
}
_VARIABLE_ESCAPE: Mapping[Format, Callable[[Any], Any]] = {
    "md": _md_markup,
    "txt": lambda value: value if isinstance(value, int | float) else plain(_clipped(value, "txt")),
    "html": _html_finalize,  # Markup % value escapes it
}


def _gettext(translations: NullTranslations, escape: Callable[[Any], Any]) -> Callable[..., str]:
    @pass_context
    def gettext(__context: Context, __string: str, **variables: Any) -> str:
        return _fill(__context, translations.gettext(__string), variables, escape)

    return gettext


def _ngettext(translations: NullTranslations, escape: Callable[[Any], Any]) -> Callable[..., str]:
    @pass_context
    def ngettext(
        __context: Context, __singular: str, __plural: str, __num: int, **variables: Any
    ) -> str:
        variables.setdefault("num", __num)
        text = translations.ngettext(__singular, __plural, __num)
        return _fill(__context, text, variables, escape)

    return ngettext


def _fill(
    context: Context, text: str, variables: Mapping[str, Any], escape: Callable[[Any], Any]
) -> str:
    """The translation with its variables escaped for the format (always %-formatted, as
    Jinja's new-style gettext does, so `%%` is a percent sign)."""
    escaped = {name: escape(value) for name, value in variables.items()}
    if context.eval_ctx.autoescape:
        return Markup(text) % escaped
    return text % escaped


# --- locale filters ------------------------------------------------------------------------


def _locale_filters(language: str) -> dict[str, Callable[..., str]]:
    """Dates, weekdays, times, numbers and percentages in the report's locale."""
    locale = Locale.parse(language.replace("-", "_"))
    patterns = _DATE_PATTERNS.get(locale.language, _CLDR_PATTERNS)

    def date_long(value: date) -> str:
        return format_date(value, patterns["long"], locale=locale)

    @pass_context
    def date_short(context: Context, value: date) -> str:
        """Without the year when it is the report's year."""
        today = context.get("today")
        same_year = isinstance(today, date) and today.year == value.year
        return format_date(value, patterns["short" if same_year else "year"], locale=locale)

    def weekday(value: date) -> str:
        return format_date(value, "EEE", locale=locale)

    def time_short(value: datetime) -> str:
        return format_time(value, "HH:mm", locale=locale)

    def number(value: int | float) -> str:
        return format_decimal(value, locale=locale)

    def percent(ratio: float | None) -> str:
        """Rounded down, so only a finished stage reads 100%; no ratio reads as a dash."""
        if ratio is None:
            return "—"
        whole = math.floor(ratio * 100 + 1e-9)
        return format_percent(whole / 100, locale=locale)

    return {
        "date_long": date_long,
        "date_short": date_short,
        "weekday": weekday,
        "time_short": time_short,
        "number": number,
        "percent": percent,
    }
