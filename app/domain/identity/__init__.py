"""Who acts: principals, roles and permissions, and WeCom's sign-in rules."""
