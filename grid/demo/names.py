"""Plausible residents of Xincheng: names (Han and Mongolian), families, ID numbers and phone numbers."""

import random
from datetime import date, timedelta

from grid.idnumbers import make_id_number

__all__ = ["HAN_SURNAMES", "IdNumbers", "family", "person_name", "phone"]

HAN_SURNAMES = tuple(
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯董程曹袁邓许沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜"
    "戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟云包乌奇"
)
MALE_GIVEN = (
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏",
    "华", "飞", "斌", "建国", "志强", "海军", "建华", "文斌", "国庆", "永刚", "俊峰", "晓东", "浩然",
)
FEMALE_GIVEN = (
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀英", "桂英",
    "玉兰", "淑珍", "晓燕", "丽华", "海燕", "春梅", "婷婷", "欣怡", "雨桐", "梓涵",
)
# Many Mongolian residents of Hohhot go by their given name alone.
MONGOLIAN_MALE = ("巴特尔", "苏和", "额尔敦", "宝音", "朝鲁", "那顺", "孟和", "布和")
MONGOLIAN_FEMALE = ("其其格", "乌云", "萨仁", "娜仁", "图雅", "高娃", "斯琴")
# Birthplace region codes for ID numbers: mostly Xincheng, some from elsewhere in Inner Mongolia.
REGIONS = (("150102", 60), ("150103", 8), ("150104", 8), ("150105", 8), ("150121", 6), ("150203", 5), ("150902", 5))


class IdNumbers:
    """Unique, well-formed ID numbers: the sequence counts per region, birth date and sex.

    The sequence's last digit is the sex digit (odd for men), as on real cards.
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: dict[tuple[str, date, bool], int] = {}
        self.regions, self.weights = zip(*REGIONS, strict=True)

    def make(self, birth: date, male: bool) -> str:
        region = self.rng.choices(self.regions, self.weights)[0]
        while self.used.get((region, birth, male), 0) >= 500:
            birth += timedelta(days=1)
        n = self.used.get((region, birth, male), 0)
        self.used[(region, birth, male)] = n + 1
        return make_id_number(region, birth.strftime("%Y%m%d"), 2 * n + int(male))


def person_name(rng: random.Random, male: bool, surname: str | None) -> str:
    if surname is None:
        return rng.choice(MONGOLIAN_MALE if male else MONGOLIAN_FEMALE)
    return surname + rng.choice(MALE_GIVEN if male else FEMALE_GIVEN)


def _birth(rng: random.Random, year: int) -> date:
    return date(year, 1, 1) + timedelta(days=rng.randrange(365))


def phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def family(rng: random.Random, ids: IdNumbers) -> list[dict]:
    """A plausible household: head, spouse, up to two children, sometimes a parent of the head."""
    size = rng.choices((1, 2, 3, 4, 5), weights=(14, 30, 32, 17, 7))[0]
    mongolian = rng.random() < 0.1

    def surname() -> str | None:
        return None if mongolian else rng.choice(HAN_SURNAMES)

    family = surname()
    head_male = rng.random() < 0.65
    head_year = rng.randint(1945, 1988)
    head_surname = family if head_male else surname()
    members = [(head_male, head_year, "户主", head_surname)]
    if size >= 2:
        members.append((not head_male, head_year + rng.randint(-4, 4), "配偶", surname() if head_male else family))
    for _ in range(min(size - 2, 2)):
        male = rng.random() < 0.5
        members.append((male, min(head_year + rng.randint(23, 34), 2014), "子" if male else "女", family))
    if size == 5:
        male = rng.random() < 0.5
        members.append((male, head_year - rng.randint(24, 32), "父亲" if male else "母亲",
                        head_surname if male else surname()))
    return [
        {"name": person_name(rng, male, name), "id_number": ids.make(_birth(rng, year), male), "relation": relation}
        for male, year, relation, name in members
    ]
