"""Writes the demo intranet's PDF documents into demo/docs/pdf/, byte for byte the same on every run.

Run from anywhere: `python demo/make_pdfs.py`. The output is committed; rerun only after editing the text.
Only the PDF core fonts are used, so every text here must be latin-1.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from pdf_content import DOCS, PdfDoc  # beside this script: run as `python demo/make_pdfs.py`

OUT_DIR = Path(__file__).resolve().parent / "docs" / "pdf"


class HandbookPdf(FPDF):
    """A4 pages with the document title in the header and page numbers in the footer."""

    def __init__(self, doc_title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc_title = doc_title
        self.set_margins(20, 22, 20)
        self.set_auto_page_break(auto=True, margin=20)

    def header(self) -> None:
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, f"Northwind Robotics - {self.doc_title}", new_x="LMARGIN", new_y="NEXT")
        self.ln(4)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def render(doc: PdfDoc) -> bytes:
    """Lay out one document and return the PDF bytes."""
    pdf = HandbookPdf(doc.title)
    pdf.set_title(doc.title)
    pdf.set_author(doc.author)
    pdf.set_subject(doc.subject)
    pdf.set_keywords(doc.keywords)
    pdf.set_creator("Northwind intranet, demo/make_pdfs.py")
    pdf.set_lang("en")
    pdf.set_creation_date(doc.created_at)
    pdf.add_page()
    width = pdf.epw
    for kind, payload in doc.blocks:
        if kind == "page":
            pdf.add_page()
        elif kind == "h1":
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(width, 9, str(payload), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        elif kind == "meta":
            pdf.set_font("Helvetica", "I", 10)
            pdf.multi_cell(width, 5.5, str(payload), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        elif kind == "h2":
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(width, 7, str(payload), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "p":
            pdf.set_font("Helvetica", "", 10.5)
            pdf.multi_cell(width, 5.5, str(payload), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2.5)
        elif kind == "ul":
            pdf.set_font("Helvetica", "", 10.5)
            assert isinstance(payload, list)
            for item in payload:
                pdf.set_x(pdf.l_margin + 4)
                pdf.multi_cell(width - 4, 5.5, f"- {item}", new_x="LMARGIN", new_y="NEXT")
                pdf.ln(1)
            pdf.ln(1.5)
        elif kind == "table":
            pdf.set_font("Helvetica", "", 9.5)
            assert isinstance(payload, list)
            with pdf.table(line_height=5.5, text_align="LEFT", first_row_as_headings=True) as table:
                for row in payload:
                    table.row(row)
            pdf.ln(3)
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return bytes(pdf.output())


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for doc in DOCS:
        path = OUT_DIR / doc.filename
        path.write_bytes(render(doc))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
