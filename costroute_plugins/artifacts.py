"""The one error a trained artifact raises when it cannot be used: the cache's verifier and the router's model.

Both parts load a JSON artifact (schema version, features, weights) and both callers react the same way: the
proxy leaves the part off or on its default and logs the message, ``costroute check-config`` reports it. One
class, here rather than in either part, so a caller catches it without importing the other part and
``except ArtifactError`` means the same thing everywhere.
"""

from __future__ import annotations


class ArtifactError(ValueError):
    """An artifact is missing, corrupt or from an incompatible version; the message names it and the fix."""
