"""The shipped checks: one file per subdomain, one test per clause item.

Collected only when a run has ``--sca-target`` (or ``--sca-list``).
"""
