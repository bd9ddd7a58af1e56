"""Where a visit came from, sessions and page paths, matching calls, reports and exports.

Domain logic only: never imports ``backend`` or Starlette. Functions take plain values and a
database handle following :class:`pool.store.Store`.
"""
