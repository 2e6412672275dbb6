"""``instructpart download`` against a hub on 127.0.0.1 (test/fake_hub.py) holding tiny real models.

The fake hub serves the four real repository ids at their pinned commits with the tiny
LISA / CLIP / DINOv2 of instructpart_ros.model.tiny (real layouts, real loaders) plus
files that must not be fetched, and two real InstructPart samples in the released layout.
"""
import json
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fake_hub import FakeHub
from instructpart_ros.cli import build_parser, main
from instructpart_ros.download import sources
from instructpart_ros.download.hub import human_size
from instructpart_ros.download.manifest import MANIFEST_FILE
from test_evaluation_support import write_small_dataset

REPO = pathlib.Path(__file__).resolve().parents[1]
DATASET_COMMIT = "d" * 40  # the fake head of zifuwan/InstructPart's main branch
LISA_SHARD = "pytorch_model-00001-of-00002.bin"
FOLDERS = {"lisa-7b-v1": "LISA-7B-v1", "clip-vit-large-patch14": "clip-vit-large-patch14",
           "dinov2-large": "dinov2-large", "instructpart": "InstructPart"}
# What lands in each folder: exactly the files the loaders read, nothing else.
EXPECTED = {
    "LISA-7B-v1": {"config.json", "tokenizer.model", "tokenizer_config.json", "added_tokens.json",
                   "special_tokens_map.json", "pytorch_model.bin.index.json", LISA_SHARD,
                   "pytorch_model-00002-of-00002.bin"},
    "clip-vit-large-patch14": {"config.json", "preprocessor_config.json", "model.safetensors"},
    "dinov2-large": {"config.json", "model.safetensors"},
}


def _folder_files(folder: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def hub_content(tmp_path_factory, instructpart_root):
    """repo id -> {path: bytes}; built on disk by the real writers, then held in memory only."""
    from instructpart_ros.model.tiny import write_tiny_checkpoints, write_tiny_dinov2

    work = tmp_path_factory.mktemp("hub-content")
    paths = write_tiny_checkpoints(work, kind="lisa")
    write_tiny_dinov2(work / "dinov2")
    decoy = b"not needed " * 200  # > 1 kB: served as an LFS file
    lisa = {**_folder_files(pathlib.Path(paths["checkpoint"])),
            "generation_config.json": b"{}", "README.md": b"# LISA", ".gitattributes": b"*.bin lfs"}
    clip = {**_folder_files(pathlib.Path(paths["vision_tower"])),
            "pytorch_model.bin": decoy, "flax_model.msgpack": decoy, "tf_model.h5": decoy,
            "vocab.json": b"{}", "merges.txt": b"#", "tokenizer.json": b"{}"}
    dinov2 = {**_folder_files(work / "dinov2"), "pytorch_model.bin": decoy, "README.md": b"# DINOv2"}
    small = write_small_dataset(instructpart_root, work / "InstructPart")
    train = small / "train" / "train200"
    shutil.copytree(small / "test", train)
    (train / "data_test.json").rename(train / "data_train.json")
    dataset = {f"InstructPart/{path}": data for path, data in _folder_files(small).items()}
    dataset.update({"README.md": b"# InstructPart", "InstructPart/all/data_all.json": b"[]",
                    "InstructPart/all/visualize_overlap/x.png": decoy})
    shutil.rmtree(work)  # the downloads below must be all the loaders see
    return {"xinlai/LISA-7B-v1": lisa, "openai/clip-vit-large-patch14": clip,
            "facebook/dinov2-large": dinov2, "zifuwan/InstructPart": dataset}


@pytest.fixture()
def hub(hub_content, monkeypatch):
    with FakeHub() as fake:
        for source in sources.SOURCES.values():
            fake.add(source.repo_type, source.repo_id, source.revision or DATASET_COMMIT,
                     hub_content[source.repo_id])
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
        yield fake


def _download(*argv: str) -> int:
    return main(["download", *argv])


def _closed_port() -> str:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_all_fetches_only_the_files_the_loaders_read_and_they_load(hub, hub_content, tmp_path, capsys):
    from instructpart_ros.evaluation.dataset import load_split
    from instructpart_ros.model import load_segmenter
    from instructpart_ros.model.components import load_dinov2

    weights = tmp_path / "weights"
    assert _download("all", "--to", str(weights)) == 0
    out = capsys.readouterr().out

    for folder, expected in EXPECTED.items():
        landed = {str(p.relative_to(weights / folder)) for p in (weights / folder).rglob("*")
                  if p.is_file() and ".cache" not in p.parts}
        assert landed == expected | {MANIFEST_FILE}, folder
    for name, source in sources.SOURCES.items():
        for path, info in json.loads((weights / source.folder / MANIFEST_FILE).read_text())["files"].items():
            assert (weights / source.folder / path).read_bytes() == hub_content[source.repo_id][path]
    fetched = {r.path for r in hub.resolves("GET")}
    assert not fetched & {"generation_config.json", "flax_model.msgpack", "tf_model.h5", "pytorch_model.bin",
                          "README.md", "vocab.json", "InstructPart/all/data_all.json"}

    lisa = json.loads((weights / "LISA-7B-v1" / MANIFEST_FILE).read_text())
    assert lisa["revision"] == sources.LISA_7B_V1_REVISION and lisa["pinned"] is True
    assert lisa["files"][LISA_SHARD]["sha256"]  # the hub's LFS hash, for provenance
    dataset = json.loads((weights / "InstructPart" / MANIFEST_FILE).read_text())
    assert (dataset["revision"], dataset["pinned"], dataset["root"]) == (DATASET_COMMIT, False, "InstructPart")
    assert f"instructpart: zifuwan/InstructPart at {DATASET_COMMIT} (NOT PINNED" in out

    # The folders are exactly what the package's loaders and commands take.
    segmenter = load_segmenter(kind="lisa", checkpoint=weights / "LISA-7B-v1",
                               vision_tower=weights / "clip-vit-large-patch14", device="cpu", dtype="float32")
    import numpy as np
    assert segmenter.segment(np.zeros((64, 80, 3), np.uint8), "where do I hold the knife?").mask.shape == (64, 80)
    import torch
    assert load_dinov2(weights / "dinov2-large", torch.device("cpu"), torch.float32).config.hidden_size == 32
    root = weights / "InstructPart" / "InstructPart"
    test_ids = [s.id for s in load_split(root, "test")]
    assert test_ids and [s.id for s in load_split(root, "train200")] == test_ids

    # The printed command lines parse with the real parser and point at these folders.
    lines = [line.strip() for line in out.splitlines()]
    eval_line = next(line for line in lines if line.startswith("instructpart eval") and "--kind lisa" in line)
    args = build_parser().parse_args(shlex.split(eval_line)[1:])
    assert (args.dataset, args.checkpoint, args.vision_tower) == (
        root, weights / "LISA-7B-v1", weights / "clip-vit-large-patch14")
    launch = next(line for line in lines if line.startswith("ros2 launch") and "model_kind:=lisa" in line)
    assert f"model_checkpoint:={weights / 'LISA-7B-v1'}" in launch
    assert any(line.startswith("instructpart train") and f"--dinov2 {weights / 'dinov2-large'}" in line
               for line in lines)

    # Scoring the ground-truth masks through `instructpart eval --dataset` gives a perfect score.
    status = main(["eval", "--dataset", str(root), "--split", "test", "--predictions", str(root / "test" / "masks"),
                   "--out", str(tmp_path / "report")])
    assert status == 0
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["overall"]["giou"] == pytest.approx(100.0)


def test_a_second_run_fetches_nothing_and_needs_no_network(hub, tmp_path, monkeypatch, capsys):
    weights = tmp_path / "weights"
    assert _download("clip-vit-large-patch14", "dinov2-large", "--to", str(weights)) == 0
    before = {p: p.stat().st_mtime_ns for p in weights.rglob("*") if p.is_file()}
    hub.requests.clear()
    assert _download("clip-vit-large-patch14", "dinov2-large", "--to", str(weights)) == 0
    assert hub.requests == []
    monkeypatch.setenv("HF_ENDPOINT", _closed_port())
    assert _download("dinov2-large", "--to", str(weights)) == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert _download("clip-vit-large-patch14", "--to", str(weights)) == 0
    assert {p: p.stat().st_mtime_ns for p in weights.rglob("*") if p.is_file()} == before
    assert "clip-vit-large-patch14: already complete" in capsys.readouterr().out


def test_missing_files_are_fetched_again_and_only_they(hub, tmp_path):
    weights = tmp_path / "weights"
    assert _download("lisa-7b-v1", "--to", str(weights)) == 0
    (weights / "LISA-7B-v1" / LISA_SHARD).unlink()
    hub.requests.clear()
    assert _download("lisa-7b-v1", "--to", str(weights)) == 0
    assert [r.path for r in hub.resolves("GET")] == [LISA_SHARD]


def test_a_transfer_cut_mid_file_resumes_from_the_byte_reached(hub, hub_content, tmp_path, monkeypatch):
    import huggingface_hub.constants

    # huggingface_hub keeps what it received in whole chunks (10 MB by default) when a transfer
    # breaks; a small chunk lets the tiny shard show it.
    chunk = 64 * 1024
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", chunk)
    data = hub_content["xinlai/LISA-7B-v1"][LISA_SHARD]
    cut = len(data) // 2
    hub.cut_once[LISA_SHARD] = cut
    weights = tmp_path / "weights"
    assert _download("lisa-7b-v1", "--to", str(weights)) == 0
    gets = [r for r in hub.resolves("GET") if r.path == LISA_SHARD]
    kept = cut // chunk * chunk
    assert [(r.range, r.bytes_sent) for r in gets] == [(None, cut), (f"bytes={kept}-", len(data) - kept)]
    assert kept > 0
    assert (weights / "LISA-7B-v1" / LISA_SHARD).read_bytes() == data


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_a_stopped_download_keeps_finished_files_and_a_rerun_completes_it(hub, hub_content, tmp_path, how):
    files = hub_content["xinlai/LISA-7B-v1"]
    hub.hold[LISA_SHARD] = len(files[LISA_SHARD]) // 3
    weights = tmp_path / "weights"
    process = subprocess.Popen([sys.executable, "-m", "instructpart_ros.cli", "download", "lisa-7b-v1",
                                "--to", str(weights)], cwd=REPO, env={**os.environ, "HF_ENDPOINT": hub.url},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    others = EXPECTED["LISA-7B-v1"] - {LISA_SHARD}
    deadline = time.monotonic() + 60
    try:
        while not all((weights / "LISA-7B-v1" / name).is_file() for name in others) or \
                not any(r.path == LISA_SHARD and r.bytes_sent for r in hub.resolves("GET")):
            assert time.monotonic() < deadline and process.poll() is None, "the download never reached the held file"
            time.sleep(0.05)
    finally:
        process.send_signal(how)
        _, stderr = process.communicate(timeout=30)  # SIGINT: it must not wait for the held transfer
    if how == signal.SIGINT:
        assert process.returncode == 130
        assert f"interrupted; the files that finished are kept: run `instructpart download lisa-7b-v1 --to " \
               f"{weights}` again" in stderr
    folder = weights / "LISA-7B-v1"
    assert not (folder / LISA_SHARD).exists() and not (folder / MANIFEST_FILE).exists()
    leftovers = list((folder / ".cache").rglob("*.incomplete"))
    if how == signal.SIGKILL:
        assert leftovers  # what the killed transfer had written

    hub.hold.clear()
    hub.requests.clear()
    assert _download("lisa-7b-v1", "--to", str(weights)) == 0
    assert [r.path for r in hub.resolves("GET")] == [LISA_SHARD]
    assert (folder / LISA_SHARD).read_bytes() == files[LISA_SHARD]
    assert not any(path.exists() for path in leftovers)  # a partial this huggingface_hub cannot reuse is removed
    assert (folder / MANIFEST_FILE).is_file()


def test_without_network_the_error_names_the_endpoint_and_the_way_out(tmp_path, monkeypatch, capsys):
    endpoint = _closed_port()
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert _download("lisa-7b-v1", "instructpart", "--to", str(tmp_path / "w")) == 2
    error = capsys.readouterr().err
    for text in (f"the hub at {endpoint} cannot be reached", "Connection refused",
                 "instructpart download lisa-7b-v1 instructpart --to DIR", "machine with internet access",
                 "copy DIR to this machine"):
        assert text in error

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert _download("dinov2-large", "--to", str(tmp_path / "w")) == 2
    error = capsys.readouterr().err
    assert "HF_HUB_OFFLINE is set" in error and "copy DIR to this machine" in error
    assert list((tmp_path / "w").iterdir()) == []


def test_an_unknown_name_lists_the_valid_ones(tmp_path, capsys):
    assert _download("lisa-7b", "--to", str(tmp_path)) == 2
    error = capsys.readouterr().err
    assert "unknown name(s) 'lisa-7b'" in error
    assert all(name in error for name in [*sources.SOURCES, "all"])


def _unwritable_folder(tmp_path: pathlib.Path) -> pathlib.Path:
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    # root passes permission bits (and os.access says yes), but sysfs refuses new files.
    assert os.access("/sys/kernel", os.W_OK)
    return pathlib.Path("/sys/kernel")


def test_a_folder_that_cannot_be_written_is_refused_before_any_download(hub, tmp_path, capsys):
    folder = _unwritable_folder(tmp_path)
    assert _download("dinov2-large", "--to", str(folder)) == 2
    assert f"--to {folder} is not a writable folder" in capsys.readouterr().err
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert _download("dinov2-large", "--to", str(a_file)) == 2
    assert f"--to {a_file} is not a writable folder" in capsys.readouterr().err
    assert hub.requests == []


def test_not_enough_disk_space_is_refused_before_any_byte(hub, tmp_path, capsys):
    files = hub.repos[("model", "xinlai/LISA-7B-v1")].files
    free = shutil.disk_usage(tmp_path).free
    # The listing claims a shard bigger than the free space (served sparse: never read).
    files[LISA_SHARD] = _Huge(free + 1)
    assert _download("lisa-7b-v1", "--to", str(tmp_path / "w")) == 2
    error = capsys.readouterr().err
    needed = free + 1 + sum(len(files[name]) for name in EXPECTED["LISA-7B-v1"] - {LISA_SHARD})
    assert f"not enough disk space in {tmp_path / 'w'}: the download needs {human_size(needed)} " \
           f"(lisa-7b-v1 {human_size(needed)}) plus 100.0 MB head room" in error
    assert "is free. Free some space or pass --to a folder on a bigger disk" in error
    assert hub.resolves("GET") == [] and hub.resolves("HEAD") == []


class _Huge(bytes):
    """Bytes whose length is ``size`` as far as the listing goes (their content is never served)."""

    def __new__(cls, size: int):
        obj = super().__new__(cls, b"x" * 2048)
        obj.size = size
        return obj

    def __len__(self) -> int:
        return self.size


def test_hub_errors_are_named(hub, tmp_path, capsys):
    hub.repos[("model", "facebook/dinov2-large")].gated = True
    assert _download("dinov2-large", "--to", str(tmp_path / "a")) == 2
    error = capsys.readouterr().err
    assert "facebook/dinov2-large (model repository on" in error and "is gated" in error and "HF_TOKEN" in error

    del hub.repos[("model", "openai/clip-vit-large-patch14")]
    assert _download("clip-vit-large-patch14", "--to", str(tmp_path / "b")) == 2
    error = capsys.readouterr().err
    assert "openai/clip-vit-large-patch14 (model repository on" in error and "was not found (HTTP 404)" in error

    assert _download("lisa-7b-v1", "--revision", "0" * 40, "--to", str(tmp_path / "c")) == 2
    error = capsys.readouterr().err
    assert f"has no revision {'0' * 40}" in error and "--revision main" in error


def test_dry_run_lists_files_and_sizes_and_fetches_nothing(hub, hub_content, tmp_path, capsys):
    assert _download("clip-vit-large-patch14", "--to", str(tmp_path / "w"), "--dry-run") == 0
    out = capsys.readouterr().out
    size = len(hub_content["openai/clip-vit-large-patch14"]["model.safetensors"])
    assert f"clip-vit-large-patch14: openai/clip-vit-large-patch14 at {sources.CLIP_VIT_LARGE_PATCH14_REVISION} " \
           "(pinned): 3 files" in out
    assert "    model.safetensors" in out and f"{size / 1000:.1f} kB" in out
    assert hub.resolves("GET") == [] and not (tmp_path / "w").exists()


def test_file_choice_follows_the_loaders():
    from instructpart_ros.model.tokenizer import TOKENIZER_FILES
    from instructpart_ros.model.weight_files import WEIGHT_FILE_NAMES

    assert tuple(first for first, _ in sources.WEIGHT_LAYOUTS) == WEIGHT_FILE_NAMES
    assert set(TOKENIZER_FILES) | {"config.json"} == set(sources.LISA_FILES)
    both = ["model.safetensors", "pytorch_model.bin", "pytorch_model.bin.index.json",
            "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "sub/model.safetensors"]
    assert sources.weight_files(both, "repo") == ["model.safetensors"]
    assert sources.weight_files(both[2:], "repo") == ["pytorch_model.bin.index.json",
                                                      "pytorch_model-00001-of-00002.bin",
                                                      "pytorch_model-00002-of-00002.bin"]
    with pytest.raises(ValueError, match="holds no weights"):
        sources.weight_files(["tf_model.h5"], "repo")
    pinned = [s.revision for s in sources.SOURCES.values() if s.pinned]
    assert len(pinned) == 3 and all(len(r) == 40 and int(r, 16) >= 0 for r in pinned)


def test_a_hub_id_where_a_folder_is_needed_points_at_the_download_command():
    from instructpart_ros.model.module_loading import local_directory

    with pytest.raises(ValueError, match=r"instructpart download lisa-7b-v1 --to /path/to\) "
                                         r"and pass checkpoint=/path/to/LISA-7B-v1"):
        local_directory("xinlai/LISA-7B-v1", "checkpoint", "LISA-7B-v1")
    with pytest.raises(ValueError, match=r"hf download someone/dinov2-small --local-dir /path/to/dinov2-small\) "
                                         r"and pass dinov2=/path/to/dinov2-small"):
        local_directory("someone/dinov2-small", "dinov2", "DINOv2")
