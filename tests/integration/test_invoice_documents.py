"""An invoice as a document: the PDF and HTML say what the JSON says, to whom may see it."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from pypdf import PdfReader

from adapters.invoice_documents import render_pdf
from tests.integration.billing_helpers import Headers, billed_account, rate, tariff, usage
from tests.integration.conftest import login
from tests.integration.helpers import assert_problem, create


def _issued(client: TestClient, admin: Headers) -> dict:
    made = tariff(client, admin, [rate("44", "0.60", 30, 6)])
    setup = billed_account(client, admin, made["id"], name="Docs")
    usage(client, admin, setup["account"]["id"], "4420", 95, at="2026-10-05T10:00:00+00:00")
    closed = client.post(
        "/v1/billing/periods/close",
        json={"customer_id": setup["customer"]["id"], "period": "2026-10"},
        headers=admin,
    )
    assert closed.status_code == 201, closed.text
    return closed.json()  # type: ignore[no-any-return]


def _text(document: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)


def test_an_invoice_downloads_as_a_pdf_with_its_lines_totals_and_hash(
    client: TestClient, admin: Headers
) -> None:
    invoice = _issued(client, admin)
    answer = client.get(f"/v1/invoices/{invoice['id']}/pdf", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert "invoice-2026-10-v1.pdf" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"%PDF-")
    text = _text(answer.content)
    assert "Invoice 2026-10 (version 1, issued)" in text
    assert f"Customer {invoice['customer_id']}" in text
    assert "0.96" in text and "96" in text  # the voice line: 95 s billed as 96 s at 0.60/min
    assert invoice["totals"]["total"] == "0.96" and "0.96 EUR" in text
    assert invoice["content_hash"] in text


def test_another_customer_cannot_download_the_pdf(client: TestClient, admin: Headers) -> None:
    invoice = _issued(client, admin)
    create(
        client,
        admin,
        "customers",
        name="Other",
        currency="EUR",
        time_zone="UTC",
        login="other",
        password="other-password",
    )
    theirs = login(client, "other", "other-password")
    hidden = client.get(f"/v1/invoices/{invoice['id']}/pdf", headers=theirs)
    assert_problem(hidden, 404, "not_found")
    missing = client.get("/v1/invoices/00000000-0000-0000-0000-000000000000/pdf", headers=admin)
    assert_problem(missing, 404, "not_found")


def test_text_outside_latin_1_does_not_break_the_pdf() -> None:
    invoice = {
        "id": "i",
        "customer_id": "c",
        "period": "2026-10",
        "version": 2,
        "status": "issued",
        "reason": "tarif corrigé — 東京 rate",
        "lines": [],
        "totals": {
            "currency": "EUR",
            "subtotal": "0",
            "tax_percent": "0",
            "tax": "0",
            "total": "0",
        },
        "content_hash": "ab" * 32,
    }
    text = _text(render_pdf(invoice))
    assert "Reissued: tarif corrigé" in text and "version 2" in text
