"""The Teams shell: the only package that imports botbuilder (Bot Framework SDK 4.17.1)."""
