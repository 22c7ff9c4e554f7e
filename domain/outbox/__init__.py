"""Announcing changes to the outside (webhooks, e-mail) through a transactional outbox.

Writers call `enqueue(session, event_type, payload, fiche_id=..., job_id=..., actor_user_id=...)` in the
transaction that makes the change (sync or async session): the event is committed with the change or
not at all. `callaudit outbox-worker` fans events out to the subscriptions that may see them and
delivers with retries (`resources.webhooks`). `enqueue_mail` queues an e-mail the same way.
"""

from domain.outbox.catalogue import EVENTS, EventRule
from domain.outbox.queue import MailMessage, enqueue, enqueue_mail, new_delivery_id

__all__ = ["EVENTS", "EventRule", "MailMessage", "enqueue", "enqueue_mail", "new_delivery_id"]
