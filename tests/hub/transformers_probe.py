"""Run as a subprocess by test_transformers.py, with HF_ENDPOINT pointing at a local hub.

Builds two versions of a tiny Llama (and a locally trained tokenizer), publishes both through
HuggingFaceHub into one private repo, then loads the *first* commit with
`AutoModelForCausalLM.from_pretrained(repo, revision=sha)` and `AutoTokenizer`, and prints a JSON
report comparing what came back with what was published.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def build(folder: Path, seed: int) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<unk>", "<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(["hello world", "the quick brown fox jumps over the lazy dog"] * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", unk_token="<unk>")
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
    )
    LlamaForCausalLM(config).save_pretrained(folder)


def main(work: Path) -> dict:
    import os

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from flock_subnet.hub.huggingface import HuggingFaceHub

    hub = HuggingFaceHub(os.environ["HF_ENDPOINT"], os.environ["HF_TOKEN"])
    v1, v2 = work / "v1", work / "v2"
    build(v1, seed=1)
    build(v2, seed=2)
    sha1 = hub.upload(v1, "alice/tiny-llama")
    sha2 = hub.upload(v2, "alice/tiny-llama", message="second")

    loaded = AutoModelForCausalLM.from_pretrained("alice/tiny-llama", revision=sha1)
    tokenizer = AutoTokenizer.from_pretrained("alice/tiny-llama", revision=sha1)
    local1 = AutoModelForCausalLM.from_pretrained(v1)
    local2 = AutoModelForCausalLM.from_pretrained(v2)
    s_loaded, s1, s2 = loaded.state_dict(), local1.state_dict(), local2.state_dict()
    return {
        "sha1": sha1,
        "sha2": sha2,
        "parameters": sum(p.numel() for p in loaded.parameters()),
        "equals_v1": all(torch.equal(s_loaded[k], s1[k]) for k in s1),
        "equals_v2": all(torch.equal(s_loaded[k], s2[k]) for k in s2),
        "tokens": tokenizer("hello world")["input_ids"],
        "local_tokens": AutoTokenizer.from_pretrained(v1)("hello world")["input_ids"],
    }


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(Path(sys.argv[1]))))
