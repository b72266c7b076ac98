"""Scoring engine: metrics, patient-level bootstrap, ranking, prediction parsing (no Django).

Importing the package is cheap (no numpy): the web tier uses :mod:`evaluator.archive` at upload time.

``EVALUATOR_VERSION`` follows semantic versioning and is stored with every result:

- **major**: a metric's definition, the bootstrap resampling scheme or the score JSON shape changes
  incompatibly, so stored scores must be recomputed (``rescore``);
- **minor**: a metric, field or accepted input format is added; existing scores stay valid;
- **patch**: messages, speed or bug fixes that do not change any score.
"""

from __future__ import annotations

EVALUATOR_VERSION = "2.0.0"

__all__ = ["EVALUATOR_VERSION"]
