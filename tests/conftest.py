"""Shared test settings: one seed, small budgets."""

import lr_agent  # noqa: F401  (registers the Gymnasium ids)

SEED = 0
