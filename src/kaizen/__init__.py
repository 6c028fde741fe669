"""Kaizen: build your own ChatGPT and keep improving it.

The package mirrors the InstructGPT loop, one module per stage:
``pretrain`` (Step 0) -> ``sft`` (Step 1) -> ``rank`` + ``reward`` (Step 2) -> ``ppo`` / ``dpo``
(Step 3) -> ``evaluate`` -> ``serve``, with ``data`` (formats), ``world`` (the offline demo
world), ``models`` (loading and building causal LMs), ``training`` (shared loop pieces) and
``losses`` (pure loss functions).
"""

__version__ = "0.1.0"
