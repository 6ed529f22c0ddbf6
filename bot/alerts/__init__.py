"""Proactive alerts: watch the restricted list, post case cards to subscribed conversations."""
