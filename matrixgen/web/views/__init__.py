"""One module per section of the site, each with its ``PAGES``: path, view, methods, permission."""

from . import actions, partnerships, review, rounds, session, site, uploads

PAGES = [*session.PAGES, *rounds.PAGES, *actions.PAGES, *uploads.PAGES, *review.PAGES, *partnerships.PAGES,
         *site.PAGES]
