"""Shared test setup: the Hypothesis profiles, with ``pr`` as the default.

Select another profile with Hypothesis' own option, e.g.
``python -m pytest --hypothesis-profile=nightly``. This module is imported
before the Hypothesis plugin's ``pytest_configure`` applies that option, so
loading ``pr`` here only sets the default.
"""

from hypothesis import settings

from parsync.engines.hypothesis_profiles import PR_PROFILE

settings.load_profile(PR_PROFILE)
