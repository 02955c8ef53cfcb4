"""Query and service functions over the database, one module per aggregate.

``contracts`` (listing, lookup, history), ``portfolios`` (saved portfolios and who owns them), ``runs``
(simulation runs) and ``users`` (accounts and passwords). The web pages, the API and the commands all call
these, each function taking the session as the keyword argument ``session``; SQL lives here (and in the
registry's loaders and statistics), not in the blueprints.
"""
