"""Regenerate core/assets/tiny-tokenizer: a 512-token BPE tokenizer with a ChatML chat template,
trained on the bundled dataset. Tests and ftx.testing build tiny models on it (no downloads)."""

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "core" / "assets" / "tiny-tokenizer"
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

rows = [
    json.loads(line)
    for line in (ROOT / "core" / "bundled" / "pride_and_prejudice.jsonl").read_text().splitlines()
]
text = [r["question"] + "\n" + r["answer"] for r in rows] + [
    "user assistant system Instruction Response ### Below is an instruction"
]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(
    text,
    trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    ),
)
fast = PreTrainedTokenizerFast(
    tokenizer_object=tok,
    eos_token="<|im_end|>",
    pad_token="<|endoftext|>",
    bos_token=None,
    unk_token=None,
)
fast.chat_template = CHAT_TEMPLATE
fast.save_pretrained(OUT)
print(OUT, len(fast))
