"""The conversation layer: commands and card verbs per feature, roles, limits, views."""
