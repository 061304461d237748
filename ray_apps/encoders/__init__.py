"""Encoder stage: pre-train the image encoder, fine-tune the text encoder, embed every item.

`item_features` (written by `embed`) is read back through `item_features.load_item_vectors`."""
