"""Who acts: users, teams, sign-in, tokens, API keys and the WeCom app."""
