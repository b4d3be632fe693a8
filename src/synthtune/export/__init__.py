"""Exported datasets: the accepted examples in trainer formats (alpaca, sharegpt, messages, completion),
with a dataset card, a manifest, an Axolotl config and LLaMA-Factory's dataset_info.json.

    >>> from synthtune import Project
    >>> from synthtune.export import export_dataset
    >>> export_dataset(Project("my-project"), format="messages")["rows"]
    {'train': 812, 'val': 160, 'test': 171}
"""

from synthtune.chat import Conversation, Passage, user_content
from synthtune.export.formats import FORMATS
from synthtune.export.writer import export_dataset

__all__ = ["FORMATS", "Conversation", "Passage", "export_dataset", "user_content"]
