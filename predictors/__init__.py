"""Predictors learn quality from evaluations already made (see the predictor-based search issue)."""

__all__: list[str] = []
