"""Adaptive Cards 1.5 as pure functions of domain objects: no I/O, no botbuilder."""
