"""Patrols: the past weeks of visits by Xinghuo Lane's grid workers, recorded through grid.services."""

import random
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from grid.demo.city import XINGHUO_CODE
from grid.demo.progress import Progress, no_progress
from grid.models import GridNode, Household, Place, Post, Role, Visit, VisitOutcome
from grid.permissions import subtree_q
from grid.services import posts_sync_grants, visit_record

__all__ = ["ensure_demo_visits"]

VISIT_DAYS = 90
# `worker`'s grid has been walked nearly end to end, so its patrol list shows both the few
# households never visited and the oldest visits; the other grids have only just begun.
VISIT_SHARE = {1: 0.97}
OTHER_GRIDS_VISIT_SHARE = 0.05
VISIT_NOTES = {
    VisitOutcome.ALL_WELL: ("", "", "", "家中一切正常", "老人身体硬朗", "已宣传垃圾分类", "已登记新生儿"),
    VisitOutcome.PROBLEM_FOUND: (
        "楼道堆放杂物，已提醒清理", "独居老人，需定期探望", "暖气不热，已告知供热办", "下水道堵塞，已联系物业",
        "消防通道被电动车占用", "外墙瓷砖松动",
    ),
    VisitOutcome.NOBODY_HOME: ("", "家中无人，改日再访", "门上留了联系卡"),
}
VISIT_OUTCOME_WEIGHTS = {VisitOutcome.ALL_WELL: 75, VisitOutcome.PROBLEM_FOUND: 10, VisitOutcome.NOBODY_HOME: 15}


def _past_visit_time(rng: random.Random) -> datetime:
    """A working-hours moment of one of the last VISIT_DAYS days, in the local time zone."""
    day = timezone.localdate() - timedelta(days=rng.randint(1, VISIT_DAYS))
    return timezone.make_aware(datetime.combine(day, time(rng.randint(9, 16), rng.randrange(60))))


def _record_demo_visit(rng: random.Random, visitors: list, **target) -> None:
    outcome = rng.choices(list(VISIT_OUTCOME_WEIGHTS), list(VISIT_OUTCOME_WEIGHTS.values()))[0]
    visit_record(actor=rng.choice(visitors), outcome=outcome, note=rng.choice(VISIT_NOTES[outcome]),
                 visited_at=_past_visit_time(rng), **target)


@transaction.atomic
def ensure_demo_visits(*, progress: Progress = no_progress) -> int:
    """Past visits of Xinghuo Lane's grid workers, through grid.services; recorded once. Returns how
    many were recorded now."""
    community = GridNode.objects.get(code=XINGHUO_CODE)
    if Visit.objects.filter(subtree_q("grid_path", community.path)).exists():
        return 0
    # A demo database seeded before visits existed holds posts without the right to record them.
    posts_sync_grants()
    rng = random.Random("xinghuo-visits")
    recorded = 0
    for g, grid in enumerate(progress(list(community.get_children()), "Patrol visits", "grid"), 1):
        visitors = [post.user for post in Post.objects.filter(node=grid, role=Role.GRID_WORKER).select_related("user")]
        share = VISIT_SHARE.get(g, OTHER_GRIDS_VISIT_SHARE)
        for household in Household.objects.filter(grid=grid):
            if rng.random() < share:
                # Some households are visited again: the list then counts and dates their last visit.
                for _ in range(rng.choices((1, 2, 3), weights=(70, 22, 8))[0]):
                    _record_demo_visit(rng, visitors, household=household)
                    recorded += 1
        for place in Place.objects.filter(grid=grid):
            if rng.random() < share:
                _record_demo_visit(rng, visitors, place=place)
                recorded += 1
    return recorded
