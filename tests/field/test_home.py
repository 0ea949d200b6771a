"""/field/: the open cases of my area, the nearest deadline first (overdue ones lead, marked), and
the resolved ones waiting for a check on site; in a fixed number of queries."""

import re
from datetime import timedelta

from django.utils import timezone

from issues.models import Case
from tests.issues.helpers import drive, report


def references(html: str, section: str) -> list[str]:
    """The references listed under a heading, in page order."""
    part = html.split(section, 1)[1].split("</ol>", 1)[0]
    return re.findall(r"XC-\d{4}-\d{6}", part)


def row(html: str, reference: str) -> str:
    """The list item of one case."""
    return next(item for item in html.split("<li ")[1:] if reference in item).split("</li>", 1)[0]


def due_in(case: Case, delta: timedelta) -> Case:
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() + delta)
    return case


def test_open_cases_of_my_grid_only_nearest_deadline_first_overdue_marked(as_user, city, categories):
    category = categories["city-management"]
    later = due_in(report(city, category, description="later"), timedelta(hours=5))
    overdue = due_in(report(city, category, description="overdue"), timedelta(hours=-1))
    soon = due_in(report(city, category, description="soon"), timedelta(minutes=30))
    neighbour = report(city, category, grid="A1g2", actor=city.users["director"])
    elsewhere = report(city, category, grid="B1g1", actor=city.users["worker2"])
    director = city.users["director"]
    resolved = drive(report(city, category), director, "accept", ("dispatch", {"level": 4}), "start",
                     ("resolve", {"comment": "修好了"}))
    rejected = drive(report(city, category), director, ("reject", {"comment": "不属实"}))

    html = as_user("worker").get("/field/", headers={"accept-language": "en"}).content.decode()
    assert references(html, "Open cases") == [overdue.reference, soon.reference, later.reference]
    assert references(html, "To check on site") == [resolved.reference]
    for hidden in (neighbour, elsewhere, rejected):
        assert hidden.reference not in html
    assert row(html, overdue.reference).startswith('class="case overdue"')
    assert "Overdue by" in row(html, overdue.reference)
    assert html.count('class="case overdue"') == 1
    assert re.search(r"\d+\xa0minutes left", row(html, soon.reference))
    assert f'href="/field/cases/{overdue.pk}/"' in html

    html = as_user("director").get("/field/").content.decode()
    assert neighbour.reference in html and elsewhere.reference not in html


def test_nothing_to_do_says_so(as_user, city, categories):
    html = as_user("worker2").get("/field/", headers={"accept-language": "en"}).content.decode()
    assert "No open cases in your area." in html and "No resolved cases are waiting for a check." in html


def test_the_list_costs_the_same_queries_for_one_case_or_many(as_user, city, categories,
                                                              django_assert_max_num_queries):
    client = as_user("worker")
    report(city, categories["city-management"])
    with django_assert_max_num_queries(QUERIES):
        assert client.get("/field/").status_code == 200
    for _ in range(5):
        report(city, categories["sanitation"])
    with django_assert_max_num_queries(QUERIES):
        html = client.get("/field/").content.decode()
    assert len(references(html, "<ol class=\"cases\">")) == 6


QUERIES = 7  # session, user, posts (who may use the app), grants, own cases outside the grants?, open cases,
#             cases to check
