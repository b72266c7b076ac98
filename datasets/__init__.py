"""Task bundles, split rules, importers and the synthetic Med-VTAB-mini generator (no Django)."""
