"""Train a byte-level BPE tokenizer (Hugging Face `tokenizers`) for a model trained from scratch.

Byte-level BPE never meets an unknown character, so the tokenizer works on any text a user
later types into the chat. The chat markers of `kaizen.data.chat` are special tokens (one id
each) and the default chat template is stored in the tokenizer, so `apply_chat_template`,
vLLM and `kaizen serve` all render conversations the same way.

``split_digits=True`` makes every digit its own token (a ``Digits(individual_digits=True)``
pre-tokenizer before the byte-level one, as Llama and Qwen do): a number is then spelled the same
way wherever it occurs, so a small model can copy and compute it digit by digit instead of
learning a merge table of its own for "24", " 24" and "24." (docs/prompting.md measures it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kaizen.data.chat import CHAT_SPECIAL_TOKENS, DEFAULT_CHAT_TEMPLATE

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD = "<s>", "</s>", "<pad>"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 2048, min_frequency: int = 2,
                        split_digits: bool = False) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if split_digits else byte_level)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = [PAD, BOS, EOS, *CHAT_SPECIAL_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        additional_special_tokens=CHAT_SPECIAL_TOKENS, model_max_length=1_000_000,
    )
    fast.chat_template = DEFAULT_CHAT_TEMPLATE
    return fast
