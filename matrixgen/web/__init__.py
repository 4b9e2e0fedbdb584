"""The staff web app (``matrixgen serve``, the ``[web]`` extra): a thin layer over the same library
the command line uses.

- ``app``: the ASGI app, the wrapper every view runs through, and the app's state;
- ``permissions``: who may do what, decided in one place;
- ``security``: headers, body limits and CSRF tokens;
- ``accounts``: users, argon2 passwords, sessions and the sign-in rate limit;
- ``audit``: every change made here, with who and when;
- ``jobs``: long work in the background, with progress kept in the store;
- ``uploads``: uploaded returns staged for the batch under names of our own;
- ``views/``: one module per section of the site; templates are in ``templates/web/``.
"""

from .app import create_app

__all__ = ["create_app"]
