"""An invoice as a document: an HTML page and a PDF (fpdf2), both from the invoice as the
API shows it, so each says exactly what `GET /v1/invoices/{id}` says."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

COLUMNS = (("service", 38), ("direction", 30), ("xdrs", 18), ("charged_seconds", 34),
           ("quantity", 30), ("amount", 40))  # fmt: skip
HEADINGS = {"xdrs": "xDRs", "charged_seconds": "seconds"}


def _billed(invoice: Mapping[str, Any]) -> str:
    if invoice.get("level") == "reseller" or invoice.get("customer_id") is None:
        return f"Reseller {invoice.get('reseller_id')}"
    return f"Customer {invoice['customer_id']}"


def _heading(invoice: Mapping[str, Any]) -> str:
    return f"Invoice {invoice['period']} (version {invoice['version']}, {invoice['status']})"


def _totals(invoice: Mapping[str, Any]) -> list[tuple[str, str]]:
    totals = invoice["totals"]
    currency = str(totals.get("currency") or "")
    return [
        ("Subtotal", f"{totals['subtotal']} {currency}"),
        (f"Tax ({totals['tax_percent']} %)", f"{totals['tax']} {currency}"),
        ("Total", f"{totals['total']} {currency}"),
    ]


def render_html(invoice: Mapping[str, Any]) -> str:
    """The invoice as one HTML page."""
    e = html.escape
    head = "".join(f"<th>{HEADINGS.get(name, name)}</th>" for name, _ in COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{e(str(line[name]))}</td>" for name, _ in COLUMNS) + "</tr>"
        for line in invoice["lines"]
    )
    totals = "<br>".join(f"{e(label)} {e(value)}" for label, value in _totals(invoice)[:-1])
    label, value = _totals(invoice)[-1]
    reason = f"<p>Reissued: {e(invoice['reason'])}</p>" if invoice.get("reason") else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Invoice {e(invoice['period'])}</title></head><body>"
        f"<h1>{e(_heading(invoice))}</h1>"
        f"<p>{e(_billed(invoice))}; id {e(str(invoice['id']))}</p>{reason}"
        f"<table><tr>{head}</tr>{rows}</table>"
        f"<p>{totals}<br><strong>{e(label)} {e(value)}</strong></p>"
        f"<p><small>content hash {e(invoice['content_hash'])}</small></p></body></html>"
    )


def _latin(text: Any) -> str:
    """The PDF's core font is Latin-1: anything else shows as '?' rather than failing."""
    return str(text).encode("latin-1", "replace").decode("latin-1")


def render_pdf(invoice: Mapping[str, Any]) -> bytes:
    """The invoice as a one-document PDF: heading, who is billed, lines, totals, hash."""
    pdf = FPDF(format="A4")
    pdf.set_title(_latin(f"Invoice {invoice['period']}"))
    pdf.set_creator("switchlog")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 10, _latin(_heading(invoice)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    facts = [_billed(invoice), f"Invoice id {invoice['id']}"]
    if invoice.get("start") and invoice.get("end"):
        facts.append(f"From {invoice['start']} to {invoice['end']}")
    if invoice.get("reason"):
        facts.append(f"Reissued: {invoice['reason']}")
    for fact in facts:
        pdf.multi_cell(0, 5, _latin(fact), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 9)
    for name, width in COLUMNS:
        pdf.cell(width, 7, HEADINGS.get(name, name), border=1)
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for line in invoice["lines"]:
        for name, width in COLUMNS:
            align = "L" if name in ("service", "direction") else "R"
            pdf.cell(width, 6, _latin(line[name]), border=1, align=align)
        pdf.ln()
    pdf.ln(4)
    for label, value in _totals(invoice):
        pdf.set_font("Helvetica", "B" if label == "Total" else "", 10)
        pdf.cell(60, 6, _latin(label))
        pdf.cell(60, 6, _latin(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.set_font("Helvetica", size=7)
    pdf.cell(0, 5, f"content hash {invoice['content_hash']}")
    return bytes(pdf.output())
