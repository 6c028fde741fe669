"""Causal LMs: build from scratch (Step 0), load any Hugging Face model or local path, tokenizers."""
