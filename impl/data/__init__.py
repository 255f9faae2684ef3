"""Data tables shipped with the package (``impl.data.shakespeare``: character bigram counts of Shakespeare)."""
