"""Every bad input gets a message that names what is wrong and where (docs/formats.md, "Predictions submissions")."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datasets.bundle import TaskMeta
from evaluator.errors import SubmissionInvalid
from evaluator.limits import Limits
from evaluator.predictions import load_predictions
from tests.evaluator.conftest import all_test_ids, csv_text, random_probs, write_zip

TASK = "derm-synth"


@pytest.fixture(scope="module")
def expected(bench_root: Path, metas: dict[str, TaskMeta]) -> dict[str, np.ndarray]:
    return {s: all_test_ids(bench_root, m) for s, m in metas.items() if m.test_images_public}


@pytest.fixture(scope="module")
def good(expected: dict[str, np.ndarray], metas: dict[str, TaskMeta]) -> tuple[np.ndarray, np.ndarray]:
    ids = expected[TASK]
    return ids, random_probs(np.random.default_rng(0), len(ids), metas[TASK])


def load(tmp_path: Path, metas, expected, members: dict[str, bytes | str], **kw) -> dict:
    path = write_zip(tmp_path / "sub.zip", members)
    return load_predictions(path, metas, expected, **kw)


def messages(tmp_path, metas, expected, members, **kw) -> str:
    with pytest.raises(SubmissionInvalid) as info:
        load(tmp_path, metas, expected, members, **kw)
    return "\n".join(info.value.messages)


def test_valid_csv_is_aligned_and_renormalised(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    order = np.random.default_rng(1).permutation(len(ids))
    text = csv_text(metas[TASK], ids[order], probs[order] * 1.0005)
    out = load(tmp_path, metas, expected, {f"{TASK}.csv": text})
    np.testing.assert_allclose(out[TASK], probs, atol=1e-12)
    assert np.allclose(out[TASK].sum(axis=1), 1.0, atol=1e-15)


def test_columns_in_any_order_bom_crlf_and_quotes(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    meta = metas[TASK]
    cols = list(reversed(meta.classes))
    lines = ['"image_id",' + ",".join(f'"{c}"' for c in cols)]
    lines += [f'"{i}",' + ",".join(repr(float(v)) for v in row[::-1]) for i, row in zip(ids, probs, strict=True)]
    data = b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"
    out = load(tmp_path, metas, expected, {f"{TASK}.csv": data})
    np.testing.assert_allclose(out[TASK], probs, atol=1e-12)


def test_npz_member_is_accepted(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    buf = io.BytesIO()
    np.savez(buf, image_ids=ids, probs=probs)
    out = load(tmp_path, metas, expected, {f"{TASK}.npz": buf.getvalue()})
    np.testing.assert_allclose(out[TASK], probs, atol=1e-12)


def bad_csv(meta: TaskMeta, ids, probs, edit) -> str:
    lines = csv_text(meta, ids, probs).split("\n")
    edit(lines)
    return "\n".join(lines)


def set_cell(row: int, col: int, value: str):
    def edit(lines: list[str]) -> None:
        cells = lines[row - 1].split(",")
        cells[col] = value
        lines[row - 1] = ",".join(cells)
    return edit


CASES = [
    ("empty", lambda m, i, p: "", "derm-synth.csv is empty"),
    ("no header", lambda m, i, p: csv_text(m, i, p).split("\n", 1)[1], "has no header row"),
    ("unknown column", lambda m, i, p: csv_text(m, i, p).replace("melanoma", "melanomma", 1),
     "unknown column(s) 'melanomma'"),
    ("missing column", lambda m, i, p: bad_csv(m, i, p, lambda L: L.__setitem__(0, "image_id,nevus,bcc")),
     "missing column(s) 'melanoma'"),
    ("duplicated column", lambda m, i, p: csv_text(m, i, p).replace("bcc", "nevus", 1),
     "duplicated column(s) 'nevus'"),
    ("non-numeric", lambda m, i, p: bad_csv(m, i, p, set_cell(5, 2, "abc")),
     "derm-synth.csv row 5: value 'abc' in column 'melanoma' is not a number"),
    ("empty cell", lambda m, i, p: bad_csv(m, i, p, set_cell(4, 1, "")),
     "derm-synth.csv row 4: column 'nevus' is empty"),
    ("nan", lambda m, i, p: bad_csv(m, i, p, set_cell(3, 1, "nan")),
     "derm-synth.csv row 3: value nan in column 'nevus' is not a number (NaN)"),
    ("inf", lambda m, i, p: bad_csv(m, i, p, set_cell(7, 3, "inf")),
     "derm-synth.csv row 7: value inf in column 'bcc' is infinite"),
    ("minus inf", lambda m, i, p: bad_csv(m, i, p, set_cell(8, 3, "-inf")),
     "row 8: value -inf in column 'bcc' is infinite"),
    ("out of range", lambda m, i, p: bad_csv(m, i, p, set_cell(6, 1, "1.5")),
     "derm-synth.csv row 6: value 1.5 in column 'nevus' is outside [0, 1]"),
    ("negative", lambda m, i, p: bad_csv(m, i, p, set_cell(6, 1, "-0.2")),
     "value -0.2 in column 'nevus' is outside [0, 1]"),
    ("sum", lambda m, i, p: bad_csv(m, i, p, set_cell(9, 1, repr(float(p[7, 0]) + 0.37))),
     "derm-synth.csv row 9: probabilities sum to 1.37; rows must sum to 1 (±0.001)"),
    ("wrong field count", lambda m, i, p: bad_csv(m, i, p, lambda L: L.__setitem__(3, L[3] + ",0.1")),
     "derm-synth.csv row 4: 5 fields; expected 4"),
    ("blank line", lambda m, i, p: bad_csv(m, i, p, lambda L: L.insert(3, "")),
     "empty row (rows 4)"),
    ("missing ids", lambda m, i, p: csv_text(m, i[12:], p[12:]),
     f"derm-synth.csv: 12 test image ids missing (first: {TASK}-ti_00000, {TASK}-ti_00001, {TASK}-ti_00002, …)"),
    ("unknown id", lambda m, i, p: csv_text(m, np.r_[i[:-1], ["img_bogus"]], p),
     "1 image id are not test images of this task (first: img_bogus)"),
    ("duplicate id", lambda m, i, p: csv_text(m, np.r_[i[:-1], i[:1]], p),
     f"1 image id appear more than once (first: {TASK}-ti_00000)"),
    ("non-utf8", lambda m, i, p: csv_text(m, i, p).encode().replace(b"ti_00003", b"ti_0000\xe9", 1),
     "derm-synth.csv row 5: byte 0xe9 is not valid UTF-8"),
    ("utf-16", lambda m, i, p: csv_text(m, i, p).encode("utf-16"), "is UTF-16 encoded"),
]


@pytest.mark.parametrize(("case", "build", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_csv_message(tmp_path, metas, expected, good, case, build, message) -> None:
    ids, probs = good
    text = messages(tmp_path, metas, expected, {f"{TASK}.csv": build(metas[TASK], ids, probs)})
    assert message in text


def test_many_bad_rows_are_capped_with_a_count(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    text = messages(tmp_path, metas, expected, {f"{TASK}.csv": csv_text(metas[TASK], ids, probs * 0.5)})
    assert "… and" in text and "more rows not summing to 1" in text
    assert text.count("probabilities sum to") == 8


def test_multilabel_rows_need_not_sum_to_one(tmp_path, metas, expected) -> None:
    meta = metas["chest-multi"]
    ids = expected["chest-multi"]
    probs = np.full((len(ids), meta.num_classes), 0.9)
    out = load(tmp_path, metas, expected, {"chest-multi.csv": csv_text(meta, ids, probs)})
    assert np.allclose(out["chest-multi"], 0.9)


def test_unknown_task_suggests_the_close_name(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    text = messages(tmp_path, metas, expected, {"derm-synht.csv": csv_text(metas[TASK], ids, probs)})
    assert "unknown task 'derm-synht'; did you mean 'derm-synth'?" in text


def test_hidden_test_images_task_refuses_predictions(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    text = messages(tmp_path, metas, expected, {"ct-hidden.csv": csv_text(metas["ct-hidden"], ids, probs)})
    assert "accepts checkpoint submissions only" in text


def test_npz_with_object_array_is_refused_without_unpickling(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    buf = io.BytesIO()
    np.savez(buf, image_ids=np.array(list(ids), dtype=object), probs=probs)
    text = messages(tmp_path, metas, expected, {f"{TASK}.npz": buf.getvalue()})
    assert "'image_ids' holds Python objects" in text


def test_npz_with_wrong_keys_or_shape(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    buf = io.BytesIO()
    np.savez(buf, ids=ids, probs=probs)
    assert "must hold exactly the arrays 'image_ids'" in messages(
        tmp_path, metas, expected, {f"{TASK}.npz": buf.getvalue()}
    )
    buf = io.BytesIO()
    np.savez(buf, image_ids=ids, probs=probs[:, :2])
    assert "'probs' has 2 columns; task 'derm-synth' has 3 classes" in messages(
        tmp_path, metas, expected, {f"{TASK}.npz": buf.getvalue()}
    )


def test_problems_in_several_files_are_all_reported(tmp_path, metas, expected) -> None:
    text = messages(tmp_path, metas, expected, {
        f"{TASK}.csv": "", "chest-bin.csv": "image_id,normal\n",
    })
    assert "derm-synth.csv is empty" in text
    assert "chest-bin.csv: missing column(s) 'pneumonia'" in text


def test_file_far_over_the_size_limit(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    big = csv_text(metas[TASK], ids, probs) + "#" * 2_000_000
    text = messages(tmp_path, metas, expected, {f"{TASK}.csv": big})
    assert "derm-synth.csv is 1.9 MB; a file for 100 test images should be well under 89.0 KB" in text


def test_archive_over_the_limit(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    text = messages(tmp_path, metas, expected, {f"{TASK}.csv": csv_text(metas[TASK], ids, probs)},
                    limits=Limits(max_archive_bytes=100))
    assert "sub.zip is" in text and "the limit is 100 bytes" in text


def test_zip_in_a_folder_is_refused_with_advice(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    text = messages(tmp_path, metas, expected, {f"sub/{TASK}.csv": csv_text(metas[TASK], ids, probs)})
    assert "top level of the zip" in text


def test_single_csv_file_is_a_one_task_submission(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    path = tmp_path / f"{TASK}.csv"
    path.write_text(csv_text(metas[TASK], ids, probs))
    assert set(load_predictions(path, metas, expected)) == {TASK}


def test_not_a_zip(tmp_path, metas, expected) -> None:
    path = tmp_path / "sub.zip"
    path.write_bytes(b"hello")
    with pytest.raises(SubmissionInvalid, match="is not a zip archive"):
        load_predictions(path, metas, expected)


def test_macos_junk_is_ignored(tmp_path, metas, expected, good) -> None:
    ids, probs = good
    path = tmp_path / "sub.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{TASK}.csv", csv_text(metas[TASK], ids, probs))
        zf.writestr("__MACOSX/._derm-synth.csv", b"junk")
        zf.writestr(".DS_Store", b"junk")
    assert set(load_predictions(path, metas, expected)) == {TASK}
