"""The board table's rows as HTML, built in Python: a 50-row page has ~600 cells, and the template
language would spend most of a cache miss on them. Every value goes through ``escape``."""

from __future__ import annotations

from html import escape as _escape
from typing import Any

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe


def escape(value: object) -> str:
    # the standard library's escape: Django's lazy-aware wrapper costs more than the row itself
    return _escape(str(value), quote=True)


def _score(col: str, c: dict[str, Any], css: str = "num", extra: str = "") -> str:
    value = "" if c["value"] is None else escape(str(c["value"]))
    title = f' title="{escape(c["ci"])}"' if c.get("ci") else ""
    pm = f'<span class="ci">{escape(c["pm"])}</span>' if c.get("pm") else ""
    return f'<td class="{css}" data-col="{escape(col)}" data-value="{value}"{title}>{escape(c["text"])}{pm}{extra}</td>'


def _all_tasks(r: dict[str, Any], split: str) -> str:
    """The entry's mean over every task it entered, under the board's mean (where they differ)."""
    if not r.get("all_tasks"):
        return ""
    return (
        '<span class="sub all-tasks" title="mean over every task this entry entered, '
        f'checkpoint-only ones included"><br>all entered: {escape(r["all_tasks"][split])}</span>'
    )


REFERENCE_BADGE = (
    ' <span class="badge reference" title="a fixed reference computed by the server, for scale: '
    'not ranked">reference</span>'
)


def _method(e: Any, reference: bool) -> str:
    url = reverse("submission", args=[e.submission_id])
    badge = ' <span class="badge baseline">baseline</span>' if e.is_baseline else ""
    badge += REFERENCE_BADGE if reference else ""
    family = ""
    if e.method_family:
        family_url = reverse("method", args=[e.method_family])
        family = f' · <a href="{escape(family_url)}">{escape(e.method_family)}</a>'
    return (
        f'<th scope="row" class="method" data-col="method"><a href="{url}">{escape(e.method_name)}</a>'
        f'{badge}\n      <span class="sub">{escape(e.team_name or e.owner_name)}{family} · '
        f"{escape(e.pretraining)} · {escape(e.track)}</span></th>"
    )


def _params(r: dict[str, Any]) -> str:
    n = r["params"]
    if n is None:
        return '<td class="num" data-col="params" data-value="">n/a</td>'
    mark = (
        ' <span class="sub" title="verified by the server">✓</span>'
        if r["entry"].params_verified
        else ""
    )
    return (
        f'<td class="num" data-col="params" data-value="{n}" title="{n} tunable parameters">'
        f"{escape(r['params_text'])}{mark}</td>"
    )


def row_html(r: dict[str, Any]) -> str:
    e = r["entry"]
    tied = (
        ' <span class="badge tied" title="statistically tied with the leader">≈</span>'
        if r["tied"]
        else ""
    )
    reference = bool(r.get("is_reference"))
    rank = r["rank"] if r["rank"] else "–"
    classes = [c for c, on in (("baseline", e.is_baseline), ("reference", reference)) if on]
    css = f' class="{" ".join(classes)}"' if classes else ""
    parts = [
        f'<tr data-submission="{e.submission_id}"{css}>',
        f'<td class="num rank" data-col="rank">{rank}{tied}</td>',
        _method(e, reference),
        *(_score(f"task:{c['slug']}", c, "num task-col") for c in r["tasks"]),
        _score("test_id", r["test_id"], extra=_all_tasks(r, "test_id")),
        _score("test_ood", r["test_ood"], extra=_all_tasks(r, "test_ood")),
        _score("ood_gap", r["ood_gap"]),
        _params(r),
        "</tr>",
    ]
    return "\n".join(parts)


def rows_html(rows: list[dict[str, Any]]) -> SafeString:
    return mark_safe("\n".join(row_html(r) for r in rows))  # every value above is escaped
