"""The torch backend: Param, Rep and Dom as training, features and transfer (DESIGN.md §4)."""
