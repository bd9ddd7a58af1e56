"""Tracking numbers, pools and leases: which number a session gets, and when it is free again.

This package holds domain logic only. It never imports ``backend`` or Starlette; callers pass
plain values and a database handle that follows :class:`pool.store.Store`.
"""
