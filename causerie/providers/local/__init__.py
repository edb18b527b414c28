"""Providers that run inside the process with no network and no key."""
