"""What each ``instructpart download`` name fetches: hub repository, pinned commit, files.

Every model is pinned to a commit hash so that every machine gets the same bytes. Only
the files this package's loaders read are fetched (``lisa_checkpoint.py`` and
``tokenizer.py`` for LISA, ``components.load_clip_tower``/``load_dinov2`` for the
towers): one weight format per model, no flax/tf/onnx copies, no CLIP text tokenizer.

To move a pin: open the repository's "Files and versions" page on huggingface.co (or run
``python -c "from huggingface_hub import HfApi; print(HfApi().model_info('REPO').sha)"``;
``dataset_info`` for a dataset), put the 40-hex commit below, run the download once and
check that ``instructpart eval`` still loads it.
"""
from __future__ import annotations

import fnmatch
import glob
from dataclasses import dataclass
from typing import Callable

# xinlai/LISA-7B-v1: "first commit" 43c754e, the repository's only content commit (Aug 23, 2023),
# as the hub's file pages and commit list name it.
LISA_7B_V1_REVISION = "43c754eef75871fcc11c84d3930a402f7b0a754f"
# openai/clip-vit-large-patch14: the revision published projects pin (their tree/<hash> links
# and HF-cache snapshot paths).
CLIP_VIT_LARGE_PATCH14_REVISION = "32bd64288804d66eefd0ccbe215aa642df71cc41"
# facebook/dinov2-large: "Update license" 47b73ee, the head of main on the hub's file page.
DINOV2_LARGE_REVISION = "47b73eefe95e8d44ec3623f8890bd894b6ea2d6c"
# zifuwan/InstructPart (a dataset repository, linked from the paper's GitHub README):
# NOT PINNED. No copy of its commit list was available when this was written, and a hash
# is never guessed. Until one is pinned the download takes the head of ``main``, prints
# the commit it resolved to and records it in instructpart_download.json; pin that hash
# here (see the module docstring for how to look it up).
INSTRUCTPART_REVISION: str | None = None

# read_weights (model/weight_files.py) takes the first of these it finds; fetch only that one.
# (index file, shard pattern) for sharded checkpoints, (file, None) for a single file.
WEIGHT_LAYOUTS = (
    ("model.safetensors.index.json", "model-*-of-*.safetensors"),
    ("model.safetensors", None),
    ("pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin"),
    ("pytorch_model.bin", None),
)
# LISA's tokenizer files (model/tokenizer.py TOKENIZER_FILES) and config.json.
LISA_FILES = ("config.json", "tokenizer.model", "tokenizer_config.json", "added_tokens.json",
              "special_tokens_map.json")
CLIP_FILES = ("config.json", "preprocessor_config.json")
DINOV2_FILES = ("config.json",)
# The released InstructPart layout (evaluation/dataset.py): the test split and the four nested
# training splits. all/ (the same images again, plus overlap renderings) is not fetched.
DATASET_MARKER = "test/data_test.json"
DATASET_FOLDERS = ("test/", "train/")


class SourceLayoutError(ValueError):
    """A hub repository no longer holds the files this package reads."""


def weight_files(paths: list[str], where: str) -> list[str]:
    """The one weight layout of ``paths`` that ``read_weights`` would read: index + shards, or one file."""
    top_level = [path for path in paths if "/" not in path]
    for first, shard_pattern in WEIGHT_LAYOUTS:
        if first not in top_level:
            continue
        shards = sorted(fnmatch.filter(top_level, shard_pattern)) if shard_pattern else []
        if shard_pattern and not shards:
            raise SourceLayoutError(f"{where} has {first} but no {shard_pattern} shards")
        return [first, *shards]
    raise SourceLayoutError(f"{where} holds no weights: expected one of "
                            f"{', '.join(first for first, _ in WEIGHT_LAYOUTS)}")


def _model_files(required: tuple[str, ...]) -> Callable[[list[str], str], list[str]]:
    def select(paths: list[str], where: str) -> list[str]:
        missing = [name for name in required if name not in paths]
        if missing:
            raise SourceLayoutError(f"{where} lacks {', '.join(missing)}: the repository changed; "
                                    "pin a revision that has them")
        return [glob.escape(name) for name in (*required, *weight_files(paths, where))]
    return select


def dataset_root(paths: list[str], where: str) -> str:
    """The folder of the repository that holds ``test/data_test.json`` (``""`` for the top)."""
    roots = sorted((path[:-len(DATASET_MARKER)] for path in paths
                    if path == DATASET_MARKER or path.endswith("/" + DATASET_MARKER)), key=len)
    if not roots:
        top = sorted({path.split("/")[0] for path in paths})
        raise SourceLayoutError(
            f"{where} has no {DATASET_MARKER} in any folder (top level: {', '.join(top[:20]) or 'empty'}): "
            "it is not in InstructPart's released layout; fetch the dataset by hand from the link in "
            "https://github.com/zifuwan/InstructPart and pass its folder to --dataset")
    return roots[0]


def _dataset_files(paths: list[str], where: str) -> list[str]:
    root = glob.escape(dataset_root(paths, where))
    return [root + folder + "*" for folder in DATASET_FOLDERS]


@dataclass(frozen=True)
class HubSource:
    """One ``instructpart download`` name."""

    name: str
    repo_id: str
    repo_type: str  # "model" or "dataset"
    revision: str | None  # a commit hash, or None: the head of main (not pinned)
    folder: str  # the sub-folder of --to DIR the files land in
    what: str
    size: str  # approximate download size, for listings and docs
    select: Callable[[list[str], str], list[str]]  # repo file paths -> allow patterns

    @property
    def pinned(self) -> bool:
        return self.revision is not None


SOURCES = {source.name: source for source in (
    HubSource("lisa-7b-v1", "xinlai/LISA-7B-v1", "model", LISA_7B_V1_REVISION, "LISA-7B-v1",
              "LISA-7B-v1 (LLaMA-7B, projector, [SEG] projection, SAM ViT-H): --kind lisa, and where "
              "PISA training starts", "16.1 GB", _model_files(LISA_FILES)),
    HubSource("clip-vit-large-patch14", "openai/clip-vit-large-patch14", "model",
              CLIP_VIT_LARGE_PATCH14_REVISION, "clip-vit-large-patch14",
              "CLIP ViT-L/14, the vision tower of LISA and PISA", "1.7 GB", _model_files(CLIP_FILES)),
    HubSource("dinov2-large", "facebook/dinov2-large", "model", DINOV2_LARGE_REVISION, "dinov2-large",
              "DINOv2 ViT-L/14, PISA's image encoder", "1.2 GB", _model_files(DINOV2_FILES)),
    HubSource("instructpart", "zifuwan/InstructPart", "dataset", INSTRUCTPART_REVISION, "InstructPart",
              "the InstructPart dataset: test split (600) and train200/600/1200/1800",
              "size listed before it starts",
              _dataset_files),
)}
ALL = "all"


def source_names() -> str:
    """The valid names, one per line with what each fetches (for errors and --help)."""
    return "\n".join(f"  {s.name:24} {s.repo_id} ({s.size}): {s.what}" for s in SOURCES.values())


def resolve_names(names: list[str]) -> list[HubSource]:
    """The sources for ``names`` (``all`` = every one), in catalogue order, each once."""
    unknown = [name for name in names if name != ALL and name not in SOURCES]
    if unknown:
        raise ValueError(f"unknown name(s) {', '.join(map(repr, unknown))}: use one or more of\n"
                         f"{source_names()}\n  {ALL:24} all of the above")
    wanted = set(SOURCES) if ALL in names else set(names)
    return [source for name, source in SOURCES.items() if name in wanted]
