"""The register as an auditor reads it (issue 15, problem 8): each entry said in the
reader's words from its code and values, linked to its record, filtered by person, and
exported to CSV and XLSX with the same filters."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]

from tests.web.conftest import WebEnv
from tests.web.test_review_flow import (
    insert_frames,
    plan_task,
    post,
    review_form,
    rweb,  # noqa: F401 - the fixture
)


def test_register_exports_say_each_entry_and_link_its_record(
    rweb: WebEnv,  # noqa: F811
) -> None:
    env = rweb
    task_id = plan_task(env)
    shas = insert_frames(env, task_id)
    with env.client_as("admin") as admin:
        done = post(admin, f"/spot-checks/{task_id}/review", review_form(frames=shas[:1]))
        record = done.headers["location"].split("?")[0]
    with env.client_as("sec") as sec:
        page = sec.get("/register").text
        assert 'href="/register.csv"' in page and 'href="/register.xlsx"' in page
        # the person filter keeps its choice in the export links
        only_admin = sec.get("/register?actor=admin").text
        assert 'href="/register.csv?actor=admin"' in only_admin
        exported = sec.get("/register.csv?actor=admin")
        assert exported.status_code == 200
        text = exported.content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        english = sec.get("/register.csv?actor=admin&lang=en")
        workbook = sec.get("/register.xlsx")
    header, body = rows[0], rows[1:]
    assert header == [
        "序号", "时间", "调阅人", "角色", "事项", "网点", "通道",
        "录像起", "录像止", "事由", "记录", "哈希",
    ]  # fmt: skip
    assert [row[4] for row in body] == ["调阅画面", "检查", "整改"]
    assert {row[3] for row in body} == {"监控管理员"}
    # each entry in words (ours first, the person's own after), with its record's page
    pull, review, finding = body
    assert pull[9] == f"随机抽查任务 #{task_id}" and pull[10] == f"/spot-checks/{task_id}"
    assert pull[7].endswith("10:01:40") and pull[8].endswith("10:08:20")  # branch time
    assert review[9] == f"检查记录(不合格 1、合格 9)、抽查任务 #{task_id}; 周例行抽查,柜台一处问题"
    assert review[10] == record
    assert finding[9] == "问题 #1:发现,现为待整改; 柜台只有一人办理业务"
    assert finding[10] == "/findings/1"
    assert all(len(row[11]) == 64 for row in body)  # each entry's hash, to check by hand
    # the same export in English says the same things in English
    english_rows = list(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert (
        english_rows[0][4] == "Action"
        and english_rows[1][9] == f"random spot-check task #{task_id}"
    )
    # the workbook: every entry in the reader's scope, the same words
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None and sheet.max_row == 1 + 3
    assert [sheet.cell(row=r, column=5).value for r in (2, 3, 4)] == ["调阅画面", "检查", "整改"]
