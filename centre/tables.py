"""The dashboard's widgets as tables: a title, what the figure counts (in the reader's language), its
columns and rows, and how to chart it. The page draws each as a chart with the same table beside it;
a widget's CSV/XLSX download writes the same table. Figures come from centre.selectors, one query
each, computed only when a widget asks for them (a download builds one widget).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from centre import selectors
from centre.filters import DEFAULT_SPAN, Selection
from grid.models import GridNode, Level
from grid.permissions import grant_paths, rule_for, scope
from issues.models import Case, Status

__all__ = ["WIDGETS", "Dashboard", "Table"]

# The report's headline: cases per community per year before and after the grid workers' phone app.
REPORT_BEFORE, REPORT_AFTER = 2580, 1500


@dataclass
class Table:
    name: str
    title: str
    counts: str  # what the figure counts, said in full
    columns: list[str]
    rows: list[list]
    chart: str = "bar"  # "bar", "line", or "" when the table is the figure
    note: str = ""
    links: list = field(default_factory=list)  # per row: a drill-down URL, or None
    text_columns: tuple[int, ...] = ()  # columns of words, not numbers (the first is always the row's name)

    def items(self) -> list[tuple[list, str | None]]:
        return [(row, self.links[i] if i < len(self.links) else None) for i, row in enumerate(self.rows)]


def _level_name(key: str) -> str:
    return _("functional departments") if key == "department" else str(Level(int(key)).label)


def _person(row: dict) -> str:
    name = f"{row['last_name']}{row['first_name']}"
    return f"{name} ({row['username']})" if name else row["username"]


def _chinese() -> bool:
    return (get_language() or "zh-hans").startswith("zh")


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


class Dashboard:
    """The figures of one Selection, each computed once, on first use."""

    def __init__(self, selection: Selection, *, interval: str = "day"):
        self.sel = selection
        self.interval = interval

    @cached_property
    def counts(self) -> selectors.Counts:
        return selectors.case_counts(self.sel.cases)

    @cached_property
    def timings(self) -> selectors.Timings:
        return selectors.case_timings(self.sel.cases)

    @cached_property
    def roots(self) -> list[GridNode]:
        """The top nodes of the user's case scope (the outermost of their grants; the tree's roots for a
        superuser): where the node picker starts."""
        paths = grant_paths(self.sel.user, rule_for(Case).actions["view"])
        nodes = GridNode.objects.filter(depth=1) if paths is None else GridNode.objects.filter(path__in=paths)
        return list(nodes.order_by("path"))

    @cached_property
    def children(self) -> list[GridNode]:
        """The areas one level down: the node's children; without a node, the user's top node's children
        (or their top nodes, when they hold several)."""
        parent = self.sel.node or (self.roots[0] if len(self.roots) == 1 else None)
        if parent is None:
            return self.roots
        return list(GridNode.objects.filter(path__startswith=parent.path, depth=parent.depth + 1).order_by("path"))

    @cached_property
    def period_end(self):
        return self.sel.end or timezone.localdate()

    def link(self, **params) -> str:
        query = {"from": self.sel.start, "to": self.sel.end, "interval": self.interval, **params}
        return reverse("centre:dashboard") + "?" + urlencode({k: v for k, v in query.items() if v})

    def table(self, name: str) -> Table:
        return WIDGETS[name](self)

    def tables(self) -> list[Table]:
        return [build(self) for build in WIDGETS.values()]


#
# The widgets
#


def key_figures(d: Dashboard) -> Table:
    c, t = d.counts, d.timings
    rows = [
        [_("Cases reported"), c.total, _("in the period, in the area")],
        [_("Open"), c.open, _("reported, accepted, dispatched, in progress, returned or reopened now")],
        [_("Overdue"), c.overdue, _("open and past the deadline of the level holding them")],
        [_("Due within 24 hours"), c.due_soon, _("open, deadline within the next 24 hours")],
        [_("Closure rate (%)"), _rate(c.closure_rate), _("closed, of the cases filed (not rejected or duplicate)")],
        [_("On-time rate (%)"), _rate(t.on_time_rate),
         _("resolved without missing any deadline, of the resolved cases")],
        [_("Reopen rate (%)"), _rate(t.reopen_rate), _("disputed by the reporter after resolution, of the cases "
                                                       "ever resolved")],
        [_("Mean time to accept (working hours)"), t.mean_accept_hours, _("from report to acceptance")],
        [_("Median time to accept (working hours)"), t.median_accept_hours, _("from report to acceptance")],
        [_("Mean time to resolve (working hours)"), t.mean_resolve_hours, _("from report to resolution")],
        [_("Median time to resolve (working hours)"), t.median_resolve_hours, _("from report to resolution")],
    ]
    return Table(
        "figures", _("Key figures"),
        _("Every figure counts the cases reported in the period in the area. Working hours count only the "
          "working calendar's hours (nights, weekends and public holidays excluded)."),
        [_("figure"), _("value"), _("what it counts")], rows, chart="", text_columns=(2,),
    )


def by_status(d: Dashboard) -> Table:
    return Table(
        "status", _("Cases by status"),
        _("Cases reported in the period in the area, by their status now (every status, zeros too)."),
        [_("status"), _("cases")], [[str(Status(s).label), n] for s, n in d.counts.by_status.items()],
    )


def by_level(d: Dashboard) -> Table:
    keys = [str(level.value) for level in (Level.DISTRICT, Level.STREET_OFFICE, Level.COMMUNITY, Level.GRID)]
    keys.append("department")
    return Table(
        "level", _("Open cases by level"),
        _("Open cases reported in the period, by who holds them now: a level of the case's own chain or a "
          "functional department."),
        [_("level"), _("open cases")], [[_level_name(key), d.counts.open_by_level.get(key, 0)] for key in keys],
    )


def by_category(d: Dashboard) -> Table:
    chinese = _chinese()
    rows = [
        ["\u3000" * row["depth"] + (row["name"] if chinese else row["name_en"]), row["count"], row["open"]]
        for row in selectors.category_rows(d.counts.by_category, d.counts.open_by_category)
    ]
    return Table(
        "category", _("Cases by category"),
        _("Cases reported in the period in the area per category, each with those of its sub-categories, "
          "and how many of them are open now."),
        [_("category"), _("cases"), _("open cases")], rows,
    )


def by_area(d: Dashboard) -> Table:
    rows = selectors.child_rows(d.sel.cases, d.children)
    return Table(
        "areas", _("Cases by area"),
        _("Cases reported in the period in each area one level down, how many are open now and how many "
          "overdue. Choose an area to see its own dashboard."),
        [_("area"), _("cases"), _("open cases"), _("overdue")],
        [[row["node"].name, row["total"], row["open"], row["overdue"]] for row in rows],
        links=[d.link(node=row["node"].pk) for row in rows],
    )


def funnel(d: Dashboard) -> Table:
    names = {str(Level.GRID.value): _("grid (on the spot)")}
    return Table(
        "funnel", _("Where cases are resolved"),
        _("Resolved cases reported in the period, by the level that resolved them: the grid worker on the spot, "
          "the community, the street office, the district, or a functional department. Cases escalated by "
          "the overdue sweep or by hand are resolved higher up."),
        [_("resolved at"), _("cases")],
        [[names.get(row["level"]) or _level_name(row["level"]), row["count"]]
         for row in selectors.resolution_funnel(d.sel.cases)],
    )


def trend(d: Dashboard) -> Table:
    end = d.period_end
    start = d.sel.start or end - DEFAULT_SPAN[d.interval]
    columns = {}
    for metric in ("reported", "resolved", "closed"):
        columns[metric] = selectors.series(d.sel.cases_any_time, metric=metric, interval=d.interval,
                                           start=start, end=end)
    starts = [point["start"] for point in columns["reported"]]
    rows = [[day, *(columns[m][i]["count"] for m in columns)] for i, day in enumerate(starts)]
    label = {"day": _("day"), "week": _("week starting"), "month": _("month starting")}[d.interval]
    return Table(
        "trend", _("Trend"),
        _("Cases of the area reported, resolved and closed in each %(interval)s, by the date of that step.")
        % {"interval": {"day": _("day"), "week": _("week"), "month": _("month")}[d.interval]},
        [label, _("reported"), _("resolved"), _("closed")], rows, chart="line",
    )


def grid_load(d: Dashboard) -> Table:
    rows = selectors.grid_load(d.sel.cases)
    return Table(
        "grids", _("Load per grid"),
        _("The grids with the most open cases reported in the period, and how many of those are overdue."),
        [_("grid"), _("open cases"), _("overdue")], [[r["name"], r["open"], r["overdue"]] for r in rows],
    )


def worker_load(d: Dashboard) -> Table:
    rows = selectors.worker_load(d.sel.cases)
    return Table(
        "workers", _("Load per person"),
        _("The people with the most open cases assigned to them (reported in the period), and how many of "
          "those are overdue."),
        [_("person"), _("open cases"), _("overdue")], [[_person(r), r["open"], r["overdue"]] for r in rows],
    )


def communities(d: Dashboard) -> Table:
    nodes = scope(GridNode.objects.filter(level=Level.COMMUNITY), d.sel.user)
    if d.sel.node is not None:
        nodes = nodes.filter(path__startswith=d.sel.node.path)
    year = selectors.community_year(d.sel.cases_any_time, end=d.period_end, communities=list(nodes[:2000]))
    note = _("A year's cases per community in the area: %(mean)s on average. The district's report counted "
             "%(before)s a year before the grid workers' phone app and %(after)s after.") % {
        "mean": year["mean"] if year["mean"] is not None else "—", "before": f"{REPORT_BEFORE:,}",
        "after": f"{REPORT_AFTER:,}"}
    return Table(
        "communities", _("A year's cases per community"),
        _("Cases reported in each community of the area in the 365 days up to %(end)s.")
        % {"end": year["end"].isoformat()},
        [_("community"), _("cases in a year")], [[row["node"].name, row["count"]] for row in year["rows"]],
        note=note,
    )


WIDGETS: dict[str, Callable[[Dashboard], Table]] = {
    "figures": key_figures,
    "status": by_status,
    "level": by_level,
    "category": by_category,
    "areas": by_area,
    "funnel": funnel,
    "trend": trend,
    "grids": grid_load,
    "workers": worker_load,
    "communities": communities,
}
