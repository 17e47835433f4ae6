"""The playbook library's kinds of entry and its approval states."""
