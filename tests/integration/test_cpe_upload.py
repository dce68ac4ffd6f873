"""Batch uploads of phones through the API: jobs with progress, row errors, whole-file
faults that apply nothing, idempotent re-uploads, the template and the error CSV."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import openpyxl
import pytest
import xlwt
from fastapi.testclient import TestClient

from api.app import create_app
from composition.runtime import Runtime
from domain.provisioning.cpe_rows import TITLES, UploadRow
from domain.provisioning.cpe_upload import UploadLookups
from domain.shared.actor import Actor, CommandContext
from tests.integration.conftest import login, make_settings
from tests.integration.helpers import assert_problem, create

HEADER = ",".join(TITLES)
MODEL = "Yealink SIP-T21P E2"


@pytest.fixture
def catalogue(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    create(client, admin, "cpe/models", name=MODEL, ports=2)
    create(client, admin, "cpe/profiles", name="Yealink Standard")
    reseller = create(
        client,
        admin,
        "resellers",
        name="ABC Shuttle Ltd.",
        login="shuttle",
        password="shuttle-pass",
    )
    abc = create(
        client,
        admin,
        "customers",
        name="ABC company",
        currency="USD",
        time_zone="UTC",
        login="abc",
        password="abc-password",
    )
    return {"reseller": reseller, "abc": abc}


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _upload(
    client: TestClient, headers: dict[str, str], content: bytes, name: str = "phones.csv"
) -> Any:
    return client.post("/v1/cpe/uploads", files={"file": (name, content)}, headers=headers)


def _finished(
    client: TestClient, headers: dict[str, str], content: bytes, name: str = "phones.csv"
) -> dict[str, Any]:
    started = _upload(client, headers, content, name)
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == f"/v1/cpe/uploads/{started.json()['id']}"
    return _wait(client, headers, started.json()["id"])


def _wait(client: TestClient, headers: dict[str, str], upload_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.get(f"/v1/cpe/uploads/{upload_id}", headers=headers)
        job = response.json()
        # 404 until the read model shows a job started elsewhere (the service, in a test)
        if response.status_code != 404 and job["status"] != "running":
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"upload {upload_id} still running: {job}")


def _phones(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    items = client.get("/v1/cpe/phones", params={"limit": 500}, headers=headers).json()["items"]
    return {p["mac"]: p for p in items}


GOOD = [
    f"Add,Yealink_00:11:22:F,{MODEL},00:11:22:FF:33:44,ABC Shuttle Ltd.,,N,",
    f"Add,Yealink_00:14:20:F,{MODEL},00-14-20-FF-3C-52,,Yealink Standard,N,ABC company",
    f"Add,Yealink_00:1C:22:F,{MODEL},001C22FA2250,,Yealink Standard,Y,ABC company",
]


def test_the_template_lists_every_column_in_order_as_csv_and_xlsx(
    client: TestClient, admin: dict[str, str]
) -> None:
    as_csv = client.get("/v1/cpe/template", params={"format": "csv"}, headers=admin)
    assert as_csv.status_code == 200
    assert next(csv.reader(io.StringIO(as_csv.text))) == list(TITLES)
    as_xlsx = client.get("/v1/cpe/template", params={"format": "xlsx"}, headers=admin)
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    assert [c.value for c in next(sheet.iter_rows())] == list(TITLES)  # type: ignore[union-attr]
    assert "attachment" in as_xlsx.headers["content-disposition"]


def test_valid_rows_apply_and_each_faulty_row_is_an_error_with_row_column_and_reason(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any]
) -> None:
    rows = [
        *GOOD,  # rows 2-4
        f"Add,bad-mac,{MODEL},00:11:22:FF:33,,,N,",  # 5
        f"Add,dup-in-file,{MODEL},00:11:22:ff:33:44,,,N,",  # 6: row 2 has it
        "Add,unknown-model,Nokia 3310,00:00:00:00:00:07,,,N,",  # 7
        f"Add,unknown-reseller,{MODEL},00:00:00:00:00:08,Nobody Ltd,,N,",  # 8
        f"Add,unknown-customer,{MODEL},00:00:00:00:00:09,,,N,Nobody Inc",  # 9
        f"Add,unknown-profile,{MODEL},00:00:00:00:00:0a,,Nope,N,",  # 10
        f'Add,"=HYPERLINK(""http://evil"",""x"")",{MODEL},00:00:00:00:00:0b,,,N,',  # 11
        f"Move,what,{MODEL},00:00:00:00:00:0c,,,N,",  # 12
        f"Add,shared-maybe,{MODEL},00:00:00:00:00:0d,,,maybe,",  # 13
    ]
    job = _finished(client, admin, _csv(*rows))
    assert job["status"] == "done"
    assert (job["rows_total"], job["rows_applied"], job["rows_failed"]) == (12, 3, 9)
    assert [(e["row"], e["column"]) for e in job["errors"]] == [
        (5, "MAC address"),
        (6, "MAC address"),
        (7, "Device model"),
        (8, "Managed by"),
        (9, "Tenant customer name"),
        (10, "CPE profile"),
        (11, "Name"),
        (12, "Action"),
        (13, "Shared with reseller"),
    ]
    assert "row 2" in job["errors"][1]["reason"]
    phones = _phones(client, admin)
    assert set(phones) == {"00:11:22:ff:33:44", "00:14:20:ff:3c:52", "00:1c:22:fa:22:50"}
    assert phones["00:11:22:ff:33:44"]["managed_by_name"] == "ABC Shuttle Ltd."
    assert phones["00:14:20:ff:3c:52"]["customer_name"] == "ABC company"  # allocated at upload
    assert phones["00:1c:22:fa:22:50"]["shared"] is True
    assert phones["00:14:20:ff:3c:52"]["profile"] == "Yealink Standard"

    exported = client.get(f"/v1/cpe/uploads/{job['id']}/errors.csv", headers=admin)
    assert exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[0] == ["Row", "Column", "Value", "Reason"]
    formula = next(line for line in lines if line[0] == "11")
    assert formula[2].startswith("'=HYPERLINK(")  # quoted: a spreadsheet shows it as text
    assert not any(cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line)


def test_reuploading_a_file_applies_nothing_and_reports_no_new_errors(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any], log_size: Any
) -> None:
    content = _csv(*GOOD, f"Add,bad,{MODEL},not-a-mac,,,N,")
    first = _finished(client, admin, content)
    assert (first["rows_applied"], first["rows_unchanged"], first["rows_failed"]) == (3, 0, 1)
    before = _phones(client, admin)
    second = _finished(client, admin, content)
    assert (second["rows_applied"], second["rows_unchanged"]) == (0, 3)
    assert second["errors"] == first["errors"]
    assert _phones(client, admin) == before


def test_a_mac_already_in_the_inventory_with_other_details_is_a_row_error(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any]
) -> None:
    _finished(client, admin, _csv(*GOOD))
    changed = GOOD[0].replace("Yealink_00:11:22:F", "Renamed")
    job = _finished(client, admin, _csv(changed, GOOD[1]))
    assert (job["rows_applied"], job["rows_unchanged"]) == (0, 1)
    assert [(e["row"], e["column"], e["value"]) for e in job["errors"]] == [
        (2, "MAC address", "00:11:22:ff:33:44")
    ]


def test_remove_rows_take_phones_out_and_count_as_unchanged_the_second_time(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any]
) -> None:
    _finished(client, admin, _csv(*GOOD))
    removal = _csv(
        f"Remove,Yealink_00:11:22:F,{MODEL},00:11:22:FF:33:44,,,,",
        f"Remove,never,{MODEL},00:00:00:00:00:99,,,,",
    )
    first = _finished(client, admin, removal)
    assert (first["rows_applied"], first["rows_failed"]) == (1, 1)
    assert "00:11:22:ff:33:44" not in _phones(client, admin)
    second = _finished(client, admin, removal)
    assert (second["rows_applied"], second["rows_unchanged"], second["rows_failed"]) == (0, 1, 1)


def test_xlsx_and_xls_files_upload_like_csv_and_a_formula_cell_is_a_row_error(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any], tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(TITLES))
    sheet.append(["Add", "x-1", MODEL, "00:00:00:00:01:01", None, None, "N", "ABC company"])
    sheet.append(["Add", '=HYPERLINK("http://evil","x")', MODEL, "00:00:00:00:01:02"])
    out = io.BytesIO()
    book.save(out)
    job = _finished(client, admin, out.getvalue(), "phones.xlsx")
    assert (job["rows_applied"], [(e["row"], e["column"]) for e in job["errors"]]) == (
        1,
        [(3, "Name")],
    )
    xls = xlwt.Workbook()
    page = xls.add_sheet("Phones")
    for r, values in enumerate([TITLES, ("Add", "x-3", MODEL, "00-00-00-00-01-03")]):
        for c, value in enumerate(values):
            page.write(r, c, value)
    path = tmp_path / "phones.xls"
    xls.save(str(path))
    job = _finished(client, admin, path.read_bytes(), "phones.xls")
    assert (job["status"], job["rows_applied"], job["errors"]) == ("done", 1, [])
    assert {"00:00:00:00:01:01", "00:00:00:00:01:03"} <= set(_phones(client, admin))


def _xlsx(*rows: list[Any]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


WHOLE_FILE_FAULTS = {
    "empty": (b"", "phones.csv"),
    "blank lines only": (b"\n\n", "phones.csv"),
    "header only": (_csv(), "phones.csv"),
    "missing column": (_csv(f"Add,x,{MODEL}", header="Action,Name,Device model"), "phones.csv"),
    "wrong order": (
        _csv(f"Add,x,00:00:00:00:00:01,{MODEL}", header="Action,Name,MAC address,Device model"),
        "phones.csv",
    ),
    "unknown column": (
        _csv("Add,x,y,z,w", header="Action,Name,Device model,MAC address,Color"),
        "phones.csv",
    ),
    "csv named xlsx": (_csv(f"Add,x,{MODEL},00:00:00:00:00:01"), "phones.xlsx"),
    "xlsx named csv": (_xlsx(list(TITLES), ["Add", "x", MODEL, "00:00:00:00:00:01"]), "p.csv"),
    "xlsx named xls": (_xlsx(list(TITLES), ["Add", "x", MODEL, "00:00:00:00:00:01"]), "p.xls"),
    "broken xlsx": (b"PK\x03\x04" + b"\x00" * 200, "phones.xlsx"),
    "binary named csv": (b"\x00\x01\x02" * 100, "phones.csv"),
    "other type": (_csv(f"Add,x,{MODEL},00:00:00:00:00:01"), "phones.txt"),
}


@pytest.mark.parametrize("fault", WHOLE_FILE_FAULTS)
def test_a_fault_in_the_file_as_a_whole_is_a_4xx_and_applies_nothing(
    client: TestClient,
    admin: dict[str, str],
    catalogue: dict[str, Any],
    log_size: Callable[[], int],
    fault: str,
) -> None:
    content, name = WHOLE_FILE_FAULTS[fault]
    before = log_size()
    answer = _upload(client, admin, content, name)
    assert_problem(answer, 422, "invalid_file")
    assert log_size() == before


def test_uploads_take_files_over_the_json_limit_up_to_their_own_limit(
    store_url: str, tmp_path: Path
) -> None:
    settings = make_settings(store_url, tmp_path, upload_max_bytes=300_000)
    runtime = Runtime(settings)
    runtime.bootstrap_admin()
    try:
        with TestClient(create_app(settings, runtime)) as client:
            admin = login(client, "root", "root-password-1")
            create(client, admin, "cpe/models", name=MODEL, ports=2)
            rows = [
                f"Add,p{i},{MODEL},02:00:00:00:{i // 256:02x}:{i % 256:02x},,,N,"
                for i in range(2000)
            ]
            content = _csv(*rows)
            assert settings.max_body_bytes < len(content) < 300_000
            job = _finished(client, admin, content)
            assert (job["rows_applied"], job["errors"]) == (2000, [])
            too_big = _csv(*rows, *rows, *rows)
            assert_problem(_upload(client, admin, too_big), 413, "payload_too_large")
            json_body = client.post(
                "/v1/cpe/models",
                headers=admin,
                content=b'{"name": "' + b"x" * 70_000 + b'", "ports": 1}',
            )
            assert_problem(json_body, 413, "payload_too_large")  # the JSON limit still holds
    finally:
        runtime.close()


def test_an_upload_is_seen_only_by_whoever_uploaded_it_and_admins(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any]
) -> None:
    shuttle = login(client, "shuttle", "shuttle-pass")
    job = _finished(client, shuttle, _csv(f"Add,r-1,{MODEL},00:00:00:00:02:01,,,N,ABC company"))
    assert job["errors"] == [
        {
            "row": 2,
            "column": "Tenant customer name",
            "value": "ABC company",
            "reason": "unknown customer",
        }
    ]
    create(client, admin, "resellers", name="Other", login="other", password="other-pass")
    other = login(client, "other", "other-pass")
    assert_problem(client.get(f"/v1/cpe/uploads/{job['id']}", headers=other), 404, "not_found")
    abc = login(client, "abc", "abc-password")
    assert_problem(client.get(f"/v1/cpe/uploads/{job['id']}", headers=abc), 404, "not_found")
    assert_problem(_upload(client, abc, _csv(*GOOD)), 403, "forbidden")
    assert client.get(f"/v1/cpe/uploads/{job['id']}", headers=admin).status_code == 200


def test_a_resellers_upload_is_managed_by_it_and_names_no_other_reseller(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any]
) -> None:
    create(client, admin, "resellers", name="Other", login="other", password="other-pass")
    shuttle = login(client, "shuttle", "shuttle-pass")
    job = _finished(
        client,
        shuttle,
        _csv(
            f"Add,r-1,{MODEL},00:00:00:00:03:01,,,N,",
            f"Add,r-2,{MODEL},00:00:00:00:03:02,ABC Shuttle Ltd.,,N,",
            f"Add,r-3,{MODEL},00:00:00:00:03:03,Other,,N,",
            f"Add,r-4,{MODEL},00:00:00:00:03:04,,,Y,",
        ),
    )
    assert job["rows_applied"] == 2
    assert [(e["row"], e["column"]) for e in job["errors"]] == [
        (4, "Managed by"),
        (5, "Shared with reseller"),
    ]
    mine = _phones(client, shuttle)
    assert {p["managed_by"] for p in mine.values()} == {catalogue["reseller"]["id"]}


def test_a_job_whose_process_died_shows_failed_and_keeps_the_rows_it_applied(
    runtime: Runtime, client: TestClient, admin: dict[str, str], catalogue: dict[str, Any]
) -> None:
    """A job another process ran: started, one batch appended, then the process died (no
    lock is held for it). The next look at it marks it failed; its phones stay."""
    service: Any = runtime.services["provisioning"]
    ctx = CommandContext(Actor.system("dead-process"))
    job = uuid4()
    service.start_upload(ctx, job, "phones.csv", "csv", 3)
    row = UploadRow(2, "add", "d-1", MODEL, "00:00:00:00:04:01", None, None, False, None)
    service.apply_upload_batch(ctx, job, [row], 2, UploadLookups())
    shown = _wait(client, admin, str(job))
    assert shown["status"] == "failed"
    assert "interrupted" in shown["reason"]
    assert (shown["rows_total"], shown["rows_applied"]) == (3, 1)
    assert "00:00:00:00:04:01" in _phones(client, admin)
    assert service.upload_status(job) == "failed"


def test_many_rows_are_appended_in_batches_and_show_progress_to_the_end(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any], runtime: Runtime
) -> None:
    rows = [
        f"Add,b{i},{MODEL},04:00:00:00:{i // 256:02x}:{i % 256:02x},,,N,ABC company"
        for i in range(1200)
    ]
    before = runtime.source.max_position()
    job = _finished(client, admin, _csv(*rows))
    assert (job["rows_done"], job["rows_applied"]) == (1200, 1200)
    # 1200 phones, their MAC reservations and allocations, in 3 appends of up to 500 rows each
    events = runtime.source.read(before, 10_000)
    uploads = [e for e in events if type(e.event).__qualname__ == "CpeUpload.BatchApplied"]
    assert len(uploads) == 3
    phones = client.get(
        "/v1/cpe/phones",
        params={"customer_id": catalogue["abc"]["id"], "limit": 500},
        headers=admin,
    ).json()
    assert len(phones["items"]) == 500 and phones["next"] == 500


def test_control_characters_deep_in_a_file_are_row_errors_the_read_model_can_hold(
    client: TestClient, admin: dict[str, str], catalogue: dict[str, Any]
) -> None:
    filler = [f"Add,f{i},{MODEL},06:00:00:00:{i // 256:02x}:{i % 256:02x},,,N," for i in range(300)]
    content = _csv(*filler, "Add,nul,Yea\x00link\x01,06:00:00:00:ff:ff,,,N,")
    assert content.index(b"\x00") > 8192  # past what the type check sniffs
    job = _finished(client, admin, content)
    assert job["rows_applied"] == 300
    assert job["errors"] == [
        {"row": 302, "column": "Device model", "value": "Yealink", "reason": "unknown device model"}
    ]
    after = _finished(client, admin, _csv(f"Add,later,{MODEL},06:00:00:01:00:00,,,N,"))
    assert after["rows_applied"] == 1  # the read model kept up
