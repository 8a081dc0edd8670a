"""Build a tiny random Llama and its tokenizer locally (no downloads) for the vLLM tests.

Usage: ``python build_tiny_llama.py OUT_DIR``. The same seed and corpus give the same files, so
every machine tests against the same model. The text it writes is random: it exists to exercise
the real plumbing (n, seeds, stop strings, truncation, metrics), not to answer anything.
"""

from __future__ import annotations

import sys
from pathlib import Path

SEED = 0
VOCAB_SIZE = 512
SPECIAL_TOKENS = ["<s>", "</s>", "<pad>"]
CORPUS_WORDS = (
    "the quick brown fox jumps over a lazy dog while seven wizards quietly judge "
    "boxing matches; prove that every integer sum of squares is even or odd, then "
    "compute the answer and write it inside a box. def solve(n): return n * (n + 1) // 2"
)
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def training_corpus() -> list[str]:
    """A few deterministic sentences: enough distinct pairs for a 512-token BPE."""
    words = CORPUS_WORDS.split()
    lines = []
    for i in range(400):
        picked = [words[(i * 7 + k * 13) % len(words)] for k in range(12)]
        lines.append(f"{' '.join(picked)} {i} {i * i} {chr(65 + i % 26)}{chr(97 + i % 23)}")
    return lines


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_corpus(), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_model(tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,  # head_dim 64: vLLM's CPU attention rejects smaller heads
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    return LlamaForCausalLM(config)


def build(out_dir: Path) -> None:
    tokenizer = build_tokenizer()
    model = build_model(tokenizer)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_tiny_llama.py OUT_DIR")
    build(Path(sys.argv[1]))
