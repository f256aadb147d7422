"""Inspection items a reviewer marks pass / fail / not visible, by channel role.

From the cooperative's counter rules and the bank's notices (bank-video-rules.md, §3);
the Chinese text is the regulation's own wording, shortened where a checklist needs it.
Where an item comes from is data (articles, or a basis such as the bank's notices); the
pages say it in the reader's language (``第45条`` / ``Art. 45``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vidaudit.inventory.schema import ChannelRole


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NOT_VISIBLE = "not_visible"


class Basis(StrEnum):
    """Where an item comes from when it is not an article of the regulation; each has
    its words in the catalogues (``review.basis_<value>``)."""

    BANK_NOTICE = "bank_notice"  # the bank's notices (重点部位, 离行式自助设备巡查, 陪同)
    COMPLAINT_PREVENTION = "complaint_prevention"  # 投诉防范: courteous counter service


@dataclass(frozen=True)
class InspectionItem:
    code: str
    zh: str
    en: str
    #: the regulation's articles the item comes from (第45条 / Art. 45), if any
    articles: tuple[int, ...]
    roles: frozenset[ChannelRole]
    #: its basis when no article says it
    basis: Basis | None = None

    def text(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


_COUNTER = frozenset({ChannelRole.COUNTER})
_CASH = frozenset({ChannelRole.COUNTER, ChannelRole.CASH_AREA})
_VAULT = frozenset({ChannelRole.VAULT})
_ATM = frozenset({ChannelRole.ATM})
_DOORS = frozenset(
    {ChannelRole.ENTRANCE, ChannelRole.LOBBY, ChannelRole.COUNTER, ChannelRole.CASH_AREA}
)
_ALL = frozenset(ChannelRole)

ITEMS: tuple[InspectionItem, ...] = (
    InspectionItem(
        "picture",
        "监控画面正常(无黑屏、遮挡、偏色、模糊)",
        "Picture normal (no black screen, covering, colour cast or blur)",
        (45,),
        _ALL,
    ),
    InspectionItem(
        "time",
        "画面时间与实际时间一致",
        "On-screen time matches the actual time",
        (45,),
        _ALL,
    ),
    InspectionItem(
        "two_staff", "双人临柜", "Two staff at the counter while it is open", (4,), _COUNTER
    ),
    InspectionItem(
        "doors_locked",
        "营业场所边后门随手关锁,无关人员未进入营业室",
        "Side and back doors locked; no unauthorised person in the teller area",
        (4, 9),
        _DOORS,
    ),
    InspectionItem(
        "alarm_checked",
        "营业前检查报警器是否开启",
        "Alarm armed and checked before opening",
        (5,),
        frozenset({ChannelRole.COUNTER, ChannelRole.CASH_AREA, ChannelRole.ENTRANCE}),
    ),
    InspectionItem(
        "cash_secured",
        "大宗现金及时入箱、入库,未置于桌面;临时离岗入箱加锁并退出系统",
        "Large cash not left on the desk; a teller stepping away locks up and logs out",
        (6,),
        _CASH,
    ),
    InspectionItem(
        "large_withdrawal_warning",
        "一万元以上大额取款进行安全提示",
        "Safety reminder given for withdrawals of 10,000 yuan or more",
        (7,),
        _COUNTER,
    ),
    InspectionItem(
        "no_gifts",
        "未收受客户馈赠物品",
        "No gifts, drinks or food accepted from customers",
        (8,),
        _COUNTER,
    ),
    InspectionItem(
        "close_of_day",
        "营业终了现金、凭证、印章全部入库,切断电源",
        "At close, cash, vouchers and seals go to the vault and power is off",
        (11,),
        frozenset({ChannelRole.COUNTER, ChannelRole.CASH_AREA, ChannelRole.VAULT}),
    ),
    InspectionItem(
        "vault_two_guards",
        "金库双人值守,值守期间无饮酒、娱乐",
        "Vault guarded by two; no drinking or entertainment on duty",
        (12, 15),
        _VAULT | frozenset({ChannelRole.DUTY_ROOM}),
    ),
    InspectionItem(
        "monitor_not_misused",
        "监控设施未用于播放其它录像或看电视",
        "Monitoring equipment not used for other viewing",
        (48,),
        frozenset({ChannelRole.DUTY_ROOM}),
    ),
    InspectionItem(
        "atm_patrol",
        "离行式自助设备按要求巡查(每天不少于6次)",
        "Off-site ATM patrolled as required (at least 6 times a day)",
        (),
        _ATM,
        Basis.BANK_NOTICE,
    ),
    InspectionItem(
        "escorted_visitors",
        "临时人员出入有专人全程陪同",
        "Temporary or outsourced staff accompanied at all times",
        (),
        frozenset(
            {ChannelRole.VAULT, ChannelRole.CASH_AREA, ChannelRole.ENTRANCE, ChannelRole.ATM}
        ),
        Basis.BANK_NOTICE,
    ),
    InspectionItem(
        "courteous_service",
        "微笑服务,文明用语",
        "Courteous counter service",
        (),
        _COUNTER,
        Basis.COMPLAINT_PREVENTION,
    ),
)

BY_CODE = {item.code: item for item in ITEMS}


def items_for(role: ChannelRole) -> list[InspectionItem]:
    return [item for item in ITEMS if role in item.roles]
