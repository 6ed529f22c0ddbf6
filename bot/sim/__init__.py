"""The simulated Microsoft 365 tenant: a real HTTP server speaking Graph and Exchange wire formats.

Demo mode and the tests point the production clients at it; nothing of ours is monkeypatched.
"""
