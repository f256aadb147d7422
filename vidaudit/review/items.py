"""Inspection items a reviewer marks pass / fail / not visible, by channel role.

From the cooperative's counter rules and the bank's notices (bank-video-rules.md, §3);
the Chinese text is the regulation's own wording, shortened where a checklist needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vidaudit.inventory.schema import ChannelRole


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NOT_VISIBLE = "not_visible"


@dataclass(frozen=True)
class InspectionItem:
    code: str
    zh: str
    en: str
    source: str
    roles: frozenset[ChannelRole]

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
        "Art. 45",
        _ALL,
    ),
    InspectionItem(
        "time",
        "画面时间与实际时间一致",
        "On-screen time matches the actual time",
        "Art. 45",
        _ALL,
    ),
    InspectionItem(
        "two_staff", "双人临柜", "Two staff at the counter while it is open", "Art. 4", _COUNTER
    ),
    InspectionItem(
        "doors_locked",
        "营业场所边后门随手关锁,无关人员未进入营业室",
        "Side and back doors locked; no unauthorised person in the teller area",
        "Art. 4, 9",
        _DOORS,
    ),
    InspectionItem(
        "alarm_checked",
        "营业前检查报警器是否开启",
        "Alarm armed and checked before opening",
        "Art. 5",
        frozenset({ChannelRole.COUNTER, ChannelRole.CASH_AREA, ChannelRole.ENTRANCE}),
    ),
    InspectionItem(
        "cash_secured",
        "大宗现金及时入箱、入库,未置于桌面;临时离岗入箱加锁并退出系统",
        "Large cash not left on the desk; a teller stepping away locks up and logs out",
        "Art. 6",
        _CASH,
    ),
    InspectionItem(
        "large_withdrawal_warning",
        "一万元以上大额取款进行安全提示",
        "Safety reminder given for withdrawals of 10,000 yuan or more",
        "Art. 7",
        _COUNTER,
    ),
    InspectionItem(
        "no_gifts",
        "未收受客户馈赠物品",
        "No gifts, drinks or food accepted from customers",
        "Art. 8",
        _COUNTER,
    ),
    InspectionItem(
        "close_of_day",
        "营业终了现金、凭证、印章全部入库,切断电源",
        "At close, cash, vouchers and seals go to the vault and power is off",
        "Art. 11",
        frozenset({ChannelRole.COUNTER, ChannelRole.CASH_AREA, ChannelRole.VAULT}),
    ),
    InspectionItem(
        "vault_two_guards",
        "金库双人值守,值守期间无饮酒、娱乐",
        "Vault guarded by two; no drinking or entertainment on duty",
        "Art. 12, 15",
        _VAULT | frozenset({ChannelRole.DUTY_ROOM}),
    ),
    InspectionItem(
        "monitor_not_misused",
        "监控设施未用于播放其它录像或看电视",
        "Monitoring equipment not used for other viewing",
        "Art. 48",
        frozenset({ChannelRole.DUTY_ROOM}),
    ),
    InspectionItem(
        "atm_patrol",
        "离行式自助设备按要求巡查(每天不少于6次)",
        "Off-site ATM patrolled as required (at least 6 times a day)",
        "bank notice",
        _ATM,
    ),
    InspectionItem(
        "escorted_visitors",
        "临时人员出入有专人全程陪同",
        "Temporary or outsourced staff accompanied at all times",
        "bank notice",
        frozenset(
            {ChannelRole.VAULT, ChannelRole.CASH_AREA, ChannelRole.ENTRANCE, ChannelRole.ATM}
        ),
    ),
    InspectionItem(
        "courteous_service",
        "微笑服务,文明用语",
        "Courteous counter service",
        "complaint prevention",
        _COUNTER,
    ),
)

BY_CODE = {item.code: item for item in ITEMS}


def items_for(role: ChannelRole) -> list[InspectionItem]:
    return [item for item in ITEMS if role in item.roles]
