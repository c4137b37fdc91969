#!/usr/bin/env python3
"""Writes samples/handbook/incident-report.pdf: a two-page PDF with real text, for the demo.

The PDF is written by hand (no library): Helvetica text in content streams, one per page, and a
cross-reference table with exact offsets. Regenerate with `python3 tools/make_sample_pdf.py`;
the output is deterministic, so the committed file only changes when this script does.
"""
import os

PAGES = [
    [
        "Incident report: expired certificate",
        "",
        "On 3 March the login service was unavailable for 14 minutes.",
        "The TLS certificate of the login load balancer had expired at 09:12 UTC.",
        "Clients failed the TLS handshake and users could not sign in.",
        "",
        "Detection: the external probe alerted the on-call engineer at 09:14.",
        "Mitigation: a new certificate was issued and deployed at 09:26.",
    ],
    [
        "Root cause and follow-up",
        "",
        "The certificate had been renewed by hand every year, and the reminder",
        "was sent to a mailbox that nobody reads any more.",
        "",
        "Follow-up: certificates are now renewed automatically thirty days",
        "before they expire, and an alert fires when any certificate has",
        "fewer than fourteen days left.",
    ],
]


def escape(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def content_stream(lines):
    ops = ["BT", "/F1 12 Tf", "15 TL", "72 740 Td"]
    for i, line in enumerate(lines):
        if i:
            ops.append("T*")
        ops.append("(%s) Tj" % escape(line))
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def build():
    objects = []  # bytes of objects 1..n

    def add(body):
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    pages = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids = []
    for lines in PAGES:
        stream = content_stream(lines)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (pages, font, content)))
    info = add(b"<< /Title (Incident report: expired certificate) /Producer (ragkit samples) >>")
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    objects[pages - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n" % (len(objects) + 1, catalog, info)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "samples", "handbook", "incident-report.pdf")
    with open(path, "wb") as f:
        f.write(build())
    print(path)
