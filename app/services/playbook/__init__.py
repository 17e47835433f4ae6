"""The playbook library: answers reps propose, supervisors approve and everyone searches."""
