"""Cases: one per restriction of a sender, with its investigation, checklist and release."""
