"""E-mail over SMTP with the standard library (smtplib does STARTTLS, implicit TLS and
AUTH; an async client would add a dependency for a call that runs in a worker thread).

The server's certificate is verified (the system's CAs, or ``tls_ca_file`` for a bank's
own), and a password is never sent over an unencrypted connection (the settings refuse
``security = "none"`` with a login).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from vidaudit.notify.errors import SendError, not_allowed, refused, timed_out, unreachable
from vidaudit.notify.message import Message


def build(message: Message, sender: str, recipient: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = sender
    mail["To"] = recipient
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail["Content-Language"] = "zh-CN" if message.language == "zh" else message.language
    mail.set_content(message.plain())
    return mail


def send_mail(
    message: Message,
    *,
    host: str,
    port: int,
    security: str,
    username: str | None,
    password: str | None,
    sender: str,
    recipient: str,
    timeout_s: float,
    ca_file: Path | None = None,
) -> None:
    """Blocking: run it in a worker thread.  Raises ``SendError``."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    what = f"SMTP {host}:{port}"
    try:
        smtp: smtplib.SMTP
        if security == "tls":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout_s)
        with smtp:
            smtp.ehlo()
            if security == "starttls":
                # smtplib raises SMTPNotSupportedError when the server offers no STARTTLS:
                # we never fall back to sending in clear.
                smtp.starttls(context=context)
                smtp.ehlo()
            if username is not None and password is not None:
                smtp.login(username, password)
            smtp.send_message(build(message, sender, recipient), sender, [recipient])
    except smtplib.SMTPAuthenticationError as exc:
        raise not_allowed(f"{what}: login refused ({exc.smtp_code})") from None
    except smtplib.SMTPNotSupportedError:
        raise refused(f"{what}: the server offers no STARTTLS (or no AUTH)") from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _text in exc.recipients.values()})
        retry = all(c < 500 for c in codes)
        raise refused(f"{what}: recipient refused ({codes})", retry=retry) from None
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error
        text = (error.decode(errors="replace") if isinstance(error, bytes) else str(error))[:200]
        # 4xx is temporary by definition (RFC 5321 4.2.1); 5xx is final
        raise refused(f"{what}: {exc.smtp_code} {text}", retry=exc.smtp_code < 500) from None
    except ssl.SSLCertVerificationError as exc:
        raise not_allowed(f"{what}: certificate not trusted ({exc.verify_message})") from None
    except TimeoutError:  # socket.timeout is TimeoutError since Python 3.10
        raise timed_out(f"{what}: no answer within {timeout_s:g} s") from None
    except smtplib.SMTPServerDisconnected:
        raise unreachable(f"{what}: the server closed the connection") from None
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        raise refused(f"{what}: {type(exc).__name__}", retry=True) from None
    except OSError as exc:
        raise unreachable(
            f"{what}: cannot connect ({exc.strerror or type(exc).__name__})"
        ) from None


__all__ = ["SendError", "build", "send_mail"]
