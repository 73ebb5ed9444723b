"""What Superset needs for the CPT dashboard bundle (merge into your own ``superset_config.py``).

The bundle's datasets filter utilization by payer, care site and modifier with Jinja (``filter_values``), which
Superset evaluates only with template processing on.
"""

import os

FEATURE_FLAGS = {"ENABLE_TEMPLATE_PROCESSING": True}
# Superset refuses to start with its default key; set your own (e.g. `openssl rand -base64 42`).
SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "")
