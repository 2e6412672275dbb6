"""LISA's tokenizer: LLaMA's sentencepiece model plus the four tokens LLaVA/LISA add.

LISA was trained with the *slow* transformers-4.31 LLaMA tokenizer: text is split on added
tokens, whitespace around a plain added token is stripped, and every remaining chunk is
encoded by sentencepiece on its own (with its dummy ``▁`` prefix). transformers'
:class:`SentencePieceBackend` with ``legacy=True`` does exactly that once the added tokens
are registered with ``lstrip``/``rstrip``; the fast (``tokenizers``) path would need a
protobuf conversion and differs around added tokens, so it is not used.
"""
from __future__ import annotations

import json
import pathlib

from transformers import AddedToken
from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

IMAGE_PATCH_TOKEN = "<im_patch>"
IMAGE_START_TOKEN = "<im_start>"
IMAGE_END_TOKEN = "<im_end>"
SEG_TOKEN = "[SEG]"
# In the order LLaVA-v1 and LISA append them to LLaMA's 32000 pieces (ids 32000..32003).
LISA_ADDED_TOKENS = (IMAGE_PATCH_TOKEN, IMAGE_START_TOKEN, IMAGE_END_TOKEN, SEG_TOKEN)

SENTENCEPIECE_FILE = "tokenizer.model"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
ADDED_TOKENS_FILE = "added_tokens.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
TOKENIZER_FILES = (SENTENCEPIECE_FILE, TOKENIZER_CONFIG_FILE, ADDED_TOKENS_FILE, SPECIAL_TOKENS_MAP_FILE)


class LisaTokenizer(SentencePieceBackend):
    """LLaMA sentencepiece tokenizer that prepends ``<s>`` (when ``add_bos_token``)."""

    def __init__(self, vocab_file: str, add_bos_token: bool = True, **kwargs):
        kwargs.setdefault("bos_token", "<s>")
        kwargs.setdefault("eos_token", "</s>")
        kwargs.setdefault("unk_token", "<unk>")
        kwargs.setdefault("legacy", True)
        super().__init__(
            vocab_file=vocab_file,
            special_tokens_pattern="bos" if add_bos_token else "none",
            **kwargs,
        )

    @property
    def seg_token_id(self) -> int:
        return self.convert_tokens_to_ids(SEG_TOKEN)

    def encode_text(self, text: str, add_bos: bool = False) -> list[int]:
        """Token ids of ``text``; ``<s>`` first only when ``add_bos``."""
        ids = self(text, add_special_tokens=False).input_ids
        return [self.bos_token_id, *ids] if add_bos else ids

    def decode_text(self, token_ids: list[int]) -> str:
        """Text of generated ids as LISA printed it: ``<s>``/``</s>`` dropped, added tokens
        set apart by spaces, the rest decoded by sentencepiece (so byte pieces become UTF-8)."""
        special = {self.bos_token_id, self.eos_token_id}
        pieces, run = [], []
        for token in token_ids:
            if token < self.vocab_size and token not in special:
                run.append(token)
                continue
            if run:
                pieces.append(self.sp_model.decode(run))
                run = []
            if token not in special:
                pieces.append(self.convert_ids_to_tokens(token))
        if run:
            pieces.append(self.sp_model.decode(run))
        return " ".join(piece for piece in pieces if piece)


def _special_token_text(value, default: str) -> str:
    """tokenizer_config.json stores special tokens as a string or an AddedToken dict."""
    if value is None:
        return default
    return value["content"] if isinstance(value, dict) else str(value)


def _read_json(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}): re-download the tokenizer files") from error


def load_tokenizer(directory: str | pathlib.Path) -> LisaTokenizer:
    """Load LISA's tokenizer from ``directory`` (``tokenizer.model`` + ``added_tokens.json``).

    The four added tokens must sit right after the sentencepiece pieces in LISA's order;
    anything else would shift ``[SEG]`` and silently break segmentation, so it is refused.
    """
    directory = pathlib.Path(directory)
    model_file = directory / SENTENCEPIECE_FILE
    if not model_file.is_file():
        raise ValueError(
            f"no {SENTENCEPIECE_FILE} in {directory}: pass the LISA/PISA checkpoint directory, "
            f"which holds the sentencepiece model next to {ADDED_TOKENS_FILE}"
        )
    config_path = directory / TOKENIZER_CONFIG_FILE
    config = _read_json(config_path) if config_path.is_file() else {}
    legacy = config.get("legacy")
    tokenizer = LisaTokenizer(
        vocab_file=str(model_file),
        add_bos_token=config.get("add_bos_token", True),
        bos_token=_special_token_text(config.get("bos_token"), "<s>"),
        eos_token=_special_token_text(config.get("eos_token"), "</s>"),
        unk_token=_special_token_text(config.get("unk_token"), "<unk>"),
        legacy=True if legacy is None else legacy,
    )
    added_path = directory / ADDED_TOKENS_FILE
    if not added_path.is_file():
        raise ValueError(
            f"no {ADDED_TOKENS_FILE} in {directory}: a LISA tokenizer needs "
            f"{', '.join(LISA_ADDED_TOKENS)} with their ids there"
        )
    _add_lisa_tokens(tokenizer, _read_json(added_path), added_path)
    return tokenizer


def _add_lisa_tokens(tokenizer: LisaTokenizer, added: dict, source: pathlib.Path) -> None:
    base = tokenizer.vocab_size
    expected = {token: base + index for index, token in enumerate(LISA_ADDED_TOKENS)}
    if added != expected:
        raise ValueError(
            f"{source} maps {added}, expected {expected} (LISA appends {', '.join(LISA_ADDED_TOKENS)} "
            f"after the {base} sentencepiece pieces): use the tokenizer files shipped with the checkpoint"
        )
    # Plain added tokens strip the whitespace around them, as transformers 4.31 did when LISA
    # was trained: "ASSISTANT: [SEG]" -> ":" then "[SEG]", with no lone "▁" between.
    tokenizer.add_tokens(
        [AddedToken(token, lstrip=True, rstrip=True, normalized=False, special=False) for token in LISA_ADDED_TOKENS]
    )
    got = {token: tokenizer.convert_tokens_to_ids(token) for token in LISA_ADDED_TOKENS}
    if got != expected:
        raise ValueError(
            f"added tokens got ids {got}, expected {expected}; the tokenizer in {source.parent} is inconsistent"
        )
