"""Controllers in the trainers people already use.

- :mod:`lr_agent.integrations.lightning`: ``ControllerCallback`` for PyTorch Lightning
  (``pip install "lr-agent[lightning]"``).
- :mod:`lr_agent.integrations.huggingface`: ``ControllerTrainerCallback`` for the
  Hugging Face ``transformers`` Trainer (``pip install "lr-agent[transformers]"``).
"""
