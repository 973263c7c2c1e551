"""Signed outgoing webhooks: a workspace's events, POSTed to its admins' URLs."""
