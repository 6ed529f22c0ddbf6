"""Typed clients for the Microsoft 365 tenant (Graph, Exchange Online) and their auth."""
