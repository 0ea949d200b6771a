"""Demo data for booking, run by ``manage.py seed_demo`` (BookingConfig.ready registers ``seed``):

- 呼和浩特市第一医院, a city hospital in 新华社区 with three expert clinics (5 places per slot);
- 星火巷社区卫生服务中心, the community health centre of Xinghuo Lane, with chronic follow-up;
- 新城区政务服务大厅, the district's government service hall, with three counters;
- their weekly schedules and the slots of the next BOOKING_HORIZON_DAYS working days;
- the desk account ``clinic``, granted the hospital's node only (so the admin shows the hospital alone);
- ``citizen`` with a booking at the hospital and a follow-up plan at the health centre.

Idempotent: rows are found by their codes and names, slots are unique per resource and start, and the
citizen's booking and plan are made once.
"""

from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal

from django.db.models import F
from django.utils import timezone
from guardian.shortcuts import assign_perm

from grid.demo import DISTRICT_CODE, XINGHUO_CODE, ensure_demo_user
from grid.models import GridNode
from grid.permissions import forget_grants
from services.booking import services
from services.booking.models import (
    Booking,
    BookingStatus,
    Department,
    FollowUpPlan,
    PointKind,
    Resource,
    ResourceKind,
    ScheduleTemplate,
    Service,
    ServicePoint,
    Slot,
)

__all__ = ["HOSPITAL_CODE", "seed"]

HOSPITAL_CODE = "hhht-first-hospital"
CENTRE_CODE = "xinghuo-health-centre"
HALL_CODE = "xincheng-service-hall"
HOSPITAL_NODE = DISTRICT_CODE + "005001"  # 新华社区, 中山东路街道
CLINIC_GRANTS = ("view_gridnode", "view_booking", "manage_booking")
WEEKDAYS = range(5)


@dataclass(frozen=True)
class _Clinic:
    department: str
    code: str
    service: str
    fee: Decimal | None
    resource: str
    title: str
    kind: str = ResourceKind.EXPERT


HOSPITAL = (
    _Clinic("心血管内科", "cardiology", "心血管内科专家门诊", Decimal("50.00"), "王建国", "主任医师"),
    _Clinic("内分泌科", "endocrinology", "内分泌科专家门诊", Decimal("40.00"), "乌云", "主任医师"),
    _Clinic("呼吸内科", "respiratory", "呼吸内科专家门诊", Decimal("40.00"), "李志强", "副主任医师"),
)
CENTRE = (
    _Clinic("全科", "general", "慢病随访", None, "全科诊室", "1号诊室", ResourceKind.COUNTER),
    _Clinic("全科", "general", "家庭医生签约咨询", None, "家庭医生工作室", "2号诊室", ResourceKind.COUNTER),
)
HALL = (
    _Clinic("户籍", "household-registration", "户籍业务办理", None, "1号窗口", "户籍", ResourceKind.COUNTER),
    _Clinic("社保", "social-security", "社会保险业务", None, "2号窗口", "社保", ResourceKind.COUNTER),
    _Clinic("不动产", "real-estate", "不动产登记", None, "3号窗口", "不动产", ResourceKind.COUNTER),
)
# (start, end, slot minutes, capacity) per point, Monday to Friday.
HOURS = {
    HOSPITAL_CODE: [((8, 0), (11, 30), 30, 5), ((14, 0), (17, 0), 30, 5)],
    CENTRE_CODE: [((8, 30), (11, 30), 20, 2)],
    HALL_CODE: [((9, 0), (12, 0), 20, 2), ((13, 30), (17, 30), 20, 2)],
}


def _point(kind: str, code: str, name: str, node_code: str, address: str, phone: str) -> ServicePoint:
    point, _ = ServicePoint.objects.update_or_create(
        code=code, defaults={"kind": kind, "name": name, "node": GridNode.objects.get(code=node_code),
                             "address": address, "phone": phone, "active": True})
    return point


def _clinics(point: ServicePoint, clinics: tuple[_Clinic, ...]) -> list[Service]:
    made = []
    for clinic in clinics:
        department, _ = Department.objects.get_or_create(point=point, code=clinic.code,
                                                         defaults={"name": clinic.department})
        service, _ = Service.objects.update_or_create(
            point=point, name=clinic.service, defaults={"department": department, "fee": clinic.fee,
                                                        "duration_minutes": 15, "active": True})
        resource, _ = Resource.objects.get_or_create(
            point=point, name=clinic.resource,
            defaults={"department": department, "kind": clinic.kind, "title": clinic.title})
        resource.services.add(service)
        for (start, end, minutes, capacity) in HOURS[point.code]:
            for weekday in WEEKDAYS:
                ScheduleTemplate.objects.get_or_create(
                    resource=resource, weekday=weekday, start=time(*start),
                    defaults={"service": service, "end": time(*end), "slot_minutes": minutes, "capacity": capacity})
        made.append(service)
    return made


def _clinic_account(hospital: ServicePoint):
    desk = ensure_demo_user("clinic", name="赵护士")
    for codename in CLINIC_GRANTS:
        assign_perm(f"grid.{codename}", desk, hospital.node)
    forget_grants(desk)
    return desk


def _citizen_booking(citizen, service: Service) -> Booking | None:
    now = timezone.now()
    if Booking.objects.filter(citizen=citizen, status=BookingStatus.BOOKED, slot__start__gt=now).exists():
        return None
    slot = (Slot.objects.filter(service=service, closed=False, booked__lt=F("capacity"),
                                start__gt=now + timedelta(days=1))
            .select_related("point", "service", "resource").order_by("start").first())
    return services.booking_create(actor=citizen, slot=slot) if slot else None


def seed(*, actor) -> str:
    hospital = _point(PointKind.HOSPITAL, HOSPITAL_CODE, "呼和浩特市第一医院", HOSPITAL_NODE, "新城区中山东路1号",
                      "0471-6900000")
    centre = _point(PointKind.HEALTH_CENTRE, CENTRE_CODE, "星火巷社区卫生服务中心", XINGHUO_CODE,
                    "东街街道星火巷12号", "0471-6911111")
    hall = _point(PointKind.SERVICE_HALL, HALL_CODE, "新城区政务服务大厅", DISTRICT_CODE, "新城区兴安北路88号",
                  "0471-12345")
    hospital_services = _clinics(hospital, HOSPITAL)
    centre_services = _clinics(centre, CENTRE)
    _clinics(hall, HALL)
    days = services.working_days_ahead(14)
    made = sum(services.slots_generate(first=days[0], last=days[-1], point=point) for point in (hospital, centre, hall))
    _clinic_account(hospital)
    citizen = ensure_demo_user("citizen", name="陈明", staff=False)
    _citizen_booking(citizen, hospital_services[0])
    FollowUpPlan.objects.get_or_create(
        point=centre, service=centre_services[0], citizen=citizen,
        defaults={"every_weeks": 4, "next_due": timezone.localdate() + timedelta(weeks=3), "created_by": actor,
                  "note": "高血压随访"})
    return (f"Booking: 3 service points, {made} new slots over {len(days)} working days, desk account clinic, "
            f"{Booking.objects.filter(citizen=citizen).count()} booking(s) of citizen")

