"""Scheduled pruning: install/remove/show, the policy file, the run lock and the timer templates."""
