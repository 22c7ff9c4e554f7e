"""E-mail: messages rendered from French templates, sent over SMTP (`SMTP_*`).

Requests never send mail themselves: they queue it (`domain.outbox.enqueue_mail`, or `queue_mail` here
to render and queue in one call) and the outbox worker sends it, retrying on failure.
"""

from resources.mail.sender import MailPermanentError, MailTemporaryError, SmtpSender
from resources.mail.templates import queue_mail, render

__all__ = ["MailPermanentError", "MailTemporaryError", "SmtpSender", "queue_mail", "render"]
