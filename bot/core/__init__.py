"""The shared core: the people, the tenant's facts and the clock that every layer speaks of.

It imports nothing of BlockWatch outside itself (tests/test_architecture.py checks it), so
`cases/`, `chat/`, `cards/`, `store/` and `tenant/` can all depend on it.
"""
