"""The outbox worker: fans committed events out to webhook subscriptions and delivers webhooks and e-mail."""

from resources.outbox.worker import OutboxConfig, OutboxWorker

__all__ = ["OutboxConfig", "OutboxWorker"]
