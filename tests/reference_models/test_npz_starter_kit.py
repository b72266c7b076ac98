"""The participant's path: the task download (.npz) -> train --npz -> predict --npz -> submit.

Training from the download must see the very data the bundle tree gives (the same ``1k`` indices)
and, with the same seed on the CPU, write the same checkpoint tensors.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from datasets.bundle import read_meta
from datasets.export import export_public_npz, public_task, read_public_npz
from evaluator.scoring import validate_predictions_file
from reference_models import predict, train
from reference_models.checkpoint import read_checkpoint
from reference_models.taskdata import training_arrays
from tests.reference_models.conftest import BENCH, make_task

TRAIN_ARGS = ["--method", "adapter", "--backbone", "backbone=tiny-general", "--config",
              "bottleneck=4", "--epochs", "2", "--seed", "3", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def downloads(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("downloads")
    out = {}
    for slug in ("tiny-gray", "tiny-rgb"):
        out[slug] = folder / f"{slug}.npz"
        export_public_npz(data_root, read_meta(data_root, BENCH, slug), out[slug])
    return out


@pytest.mark.parametrize("protocol", ["full", "1k"])
def test_the_download_gives_the_bundle_training_data(data_root: Path, downloads: dict[str, Path],
                                                     protocol: str) -> None:
    meta = read_meta(data_root, BENCH, "tiny-gray")
    from_npz = training_arrays(read_public_npz(downloads["tiny-gray"]), protocol)
    from_tree = training_arrays(public_task(data_root, meta), protocol)
    for (xa, ya), (xb, yb) in zip(from_npz, from_tree, strict=True):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    (x_train, _), (x_val, _) = from_npz
    assert (len(x_train), len(x_val)) == ((30, 12) if protocol == "1k" else (60, 24))


def test_train_from_the_npz_writes_the_checkpoint_the_bundle_tree_gives(
        tiny_backbones: dict, data_root: Path, downloads: dict[str, Path], tmp_path: Path) -> None:
    from_npz, from_tree = tmp_path / "npz.zip", tmp_path / "tree.zip"
    assert train.main(["--npz", str(downloads["tiny-gray"]), "--npz", str(downloads["tiny-rgb"]),
                       "--protocol", "1k", *TRAIN_ARGS, "--out", str(from_npz)]) == 0
    assert train.main(["--data-root", str(data_root), "--benchmark", BENCH, "--task", "all",
                       "--protocol", "1k", *TRAIN_ARGS, "--out", str(from_tree)]) == 0
    manifest_npz, tensors_npz = read_checkpoint(from_npz)
    manifest_tree, tensors_tree = read_checkpoint(from_tree)
    assert manifest_npz == manifest_tree
    assert manifest_npz.benchmark == BENCH and manifest_npz.protocol == "1k"
    assert set(tensors_npz) == {"tiny-gray", "tiny-rgb"}
    for slug, tensors in tensors_npz.items():
        assert tensors.keys() == tensors_tree[slug].keys()
        for name, value in tensors.items():
            assert value.equal(tensors_tree[slug][name]), (slug, name)


def test_predict_from_the_npz_is_accepted_by_the_server(
        tiny_backbones: dict, data_root: Path, downloads: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "ckpt.zip"
    assert train.main(["--npz", str(downloads["tiny-gray"]), "--npz", str(downloads["tiny-rgb"]),
                       *TRAIN_ARGS, "--out", str(ckpt)]) == 0
    from_npz, from_tree = tmp_path / "npz-preds.zip", tmp_path / "tree-preds.zip"
    assert predict.main(["--checkpoint", str(ckpt), "--npz", str(downloads["tiny-gray"]),
                         "--npz", str(downloads["tiny-rgb"]), "--device", "cpu",
                         "--out", str(from_npz)]) == 0
    assert "tiny-rgb: test images are hidden" in capsys.readouterr().err
    assert predict.main(["--checkpoint", str(ckpt), "--data-root", str(data_root),
                         "--device", "cpu", "--out", str(from_tree)]) == 0
    probs = validate_predictions_file(data_root, BENCH, from_npz)
    assert set(probs) == {"tiny-gray"} and probs["tiny-gray"].shape == (24, 3)
    with zipfile.ZipFile(from_npz) as a, zipfile.ZipFile(from_tree) as b:
        assert a.namelist() == ["tiny-gray.csv"]
        assert a.read("tiny-gray.csv") == b.read("tiny-gray.csv")


def test_predict_leaves_out_checkpoint_tasks_without_a_download(
        tiny_backbones: dict, data_root: Path, downloads: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    ckpt, preds = tmp_path / "ckpt.zip", tmp_path / "preds.zip"
    assert train.main(["--npz", str(downloads["tiny-rgb"]), *TRAIN_ARGS, "--out", str(ckpt)]) == 0
    assert predict.main(["--checkpoint", str(ckpt), "--npz", str(downloads["tiny-gray"]),
                         "--out", str(preds)]) == 2
    err = capsys.readouterr().err
    assert "tiny-gray: not in the checkpoint; ignored" in err
    assert "tiny-rgb: no test images given (--npz); left out" in err
    assert "error: no task of this checkpoint has public test images" in err
    assert not preds.exists() and not (tmp_path / "preds.zip.tmp").exists()


def test_train_refuses_bad_npz_input_with_a_clear_error(
        tiny_backbones: dict, data_root: Path, downloads: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    meta = make_task(other, "tiny-gray", seed=4)
    without_1k = tmp_path / "no-1k.npz"
    with np.load(downloads["tiny-gray"], allow_pickle=False) as npz:
        np.savez(without_1k, **{k: npz[k] for k in npz.files if not k.startswith("protocol_")})
    other_bench = tmp_path / "other-bench.npz"
    export_public_npz(other, meta, other_bench)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    cases = [
        (["--npz", str(without_1k), "--protocol", "1k"], "tiny-gray: this task has no '1k' protocol"),
        (["--npz", str(downloads["tiny-gray"]), "--npz", str(other_bench)],
         "task(s) tiny-gray given by more than one .npz file"),
        (["--npz", str(broken)], "broken.npz"),
        (["--npz", str(tmp_path / "missing.npz")], "missing.npz: no such file"),
        (["--data-root", str(data_root), "--benchmark", BENCH, "--task", "nope"], "no task 'nope'"),
    ]
    for args, needle in cases:
        out = tmp_path / "x.zip"
        assert train.main([*args, *TRAIN_ARGS, "--out", str(out)]) == 2, args
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, err
        assert not out.exists()


@pytest.mark.parametrize("args,needle", [
    (["--npz", "a.npz", "--data-root", "d"], "not allowed with argument"),
    (["--data-root", "d", "--task", "all"], "--data-root needs --benchmark and --task"),
    (["--npz", "a.npz", "--task", "all"], "drop --benchmark and --task"),
])
def test_train_takes_one_data_source(args: list[str], needle: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        train.main([*args, "--method", "linear", "--out", "x.zip"])
    assert exited.value.code == 2 and needle in capsys.readouterr().err


def test_training_does_not_depend_on_the_backbone_cache(tiny_backbones: dict,
                                                        data_root: Path) -> None:
    from reference_models.backbones import clear_cache

    task = public_task(data_root, read_meta(data_root, BENCH, "tiny-gray"))
    clear_cache()
    cold, warm = (train.train_task(task, "adapter", {"bottleneck": 4}, {"backbone": "tiny-general"},
                                   epochs=1, seed=5, device=torch.device("cpu"), progress=False)[0]
                  for _ in range(2))  # the first loads the backbone afresh, the second from cache
    assert cold.keys() == warm.keys()
    assert all(cold[name].equal(warm[name]) for name in cold)
