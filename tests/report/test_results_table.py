"""A results table made elsewhere is read as UTF-8, with or without the byte-order mark that
Excel's "CSV UTF-8" writes; any other encoding is one line that says to save it as UTF-8."""

from __future__ import annotations

import pytest

from featuretransfer.cli import main
from featuretransfer.report.results import ReportError, load_results

# Another framework's log: the required columns, L, and a study name that is not ASCII.
TABLE = """split,source,target,treatment,n_copied,fine_tune,top1,n_layers,study
s0,B,B,base,0,false,0.6,6,étude
s0,A,B,transfer,3,true,0.63,6,étude
s0,B,B,selffer,3,true,0.61,6,étude
s0,B,B,selffer,5,false,0.58,6,étude
"""
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
# encoding: (the file's bytes, what the error says; None: read as the plain UTF-8 table)
ENCODINGS = {
    "UTF-8": (TABLE.encode("utf-8"), None),
    "UTF-8 with BOM": (TABLE.encode("utf-8-sig"), None),
    "UTF-16 with BOM": (TABLE.encode("utf-16"), "the table is UTF-16 text, not UTF-8"),
    "UTF-16 without BOM": (TABLE.encode("utf-16-le"), "not a text table"),
    "latin-1": (TABLE.encode("latin-1"), "line 2: byte 0xe9 is not UTF-8"),
    "binary (PNG)": (PNG, "not a text table"),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_table_is_read_as_utf8_or_refused_in_one_line(tmp_path, encoding):
    blob, problem = ENCODINGS[encoding]
    path = tmp_path / "theirs.csv"
    path.write_bytes(blob)
    if problem is None:
        records = load_results(path)
        assert [r["label"] for r in records] == ["baseB", "AnB+", "BnB+", "BnB"]
        assert {r["study"] for r in records} == {"étude"}  # the mark is not part of a column
        return
    with pytest.raises(ReportError) as error:
        load_results(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message
    assert 'save the table as UTF-8 (in Excel: Save As > "CSV UTF-8")' in message


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_report_of_a_table_in_another_encoding_exits_2_in_one_line(tmp_path, capsys, encoding):
    blob, problem = ENCODINGS[encoding]
    path = tmp_path / "theirs.csv"
    path.write_bytes(blob)
    rc = main(["report", "--results", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    if problem is None:
        assert rc == 0 and (tmp_path / "out" / "report" / "table1.csv").is_file()
        return
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert problem in err and "save the table as UTF-8" in err
