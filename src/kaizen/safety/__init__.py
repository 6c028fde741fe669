"""The safety layer: moderation, defences against adversarial prompts, and the red-team suite.

- ``categories.py``: moderation categories (after OpenAI's list) and the labelled-text JSONL format.
- ``moderation_data.py``: generated moderation texts; ``attacks.py``: generated attacks, two disjoint
  template families (the detector's training set, the red-team suite).
- ``classifier.py``: a multi-label classifier on any transformers base; ``metrics.py``: its report.
- ``moderation.py``: ``kaizen moderation train|eval``.
- ``defences.py``: delimiting, the system reminder, the output secret check, the detector/moderation
  gates, composed into one pipeline that the server filters and the red-team runner share.
- ``redteam.py``: ``kaizen redteam MODEL_OR_URL``. ``demo.py``: what ``kaizen demo`` runs.
"""
