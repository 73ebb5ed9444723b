"""What Superset needs for the CPT dashboard bundle: merge it into your own ``superset_config.py``.

The bundle's datasets filter utilization by payer, care site and modifier with Jinja (``filter_values``), which
Superset evaluates only with template processing on. Your file also sets ``SECRET_KEY`` and the metadata database
(``SQLALCHEMY_DATABASE_URI``); nothing here replaces them.
"""

FEATURE_FLAGS = {"ENABLE_TEMPLATE_PROCESSING": True}
