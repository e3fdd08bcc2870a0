"""Evaluators of diffusion sampling configurations on the digits testbed."""

from .digits_fd import DigitsFD, digits_fd

__all__ = ["DigitsFD", "digits_fd"]
