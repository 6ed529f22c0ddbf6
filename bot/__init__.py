"""BlockWatch: a Teams bot for senders restricted by Exchange Online."""
