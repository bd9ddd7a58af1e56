"""Announcing calls: signed outbound webhooks (API連携) and email (メール通知).

Targets are kept per advertiser in ``notification_targets``; each (target, call, event)
is delivered once, recorded in ``notification_deliveries``, retried with backoff.
"""

from backend.notify.dispatch import Notifier

__all__ = ["Notifier"]
