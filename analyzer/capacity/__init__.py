"""Capacity: when the VPC connector strains, whether it grows, next week's forecast where it
earns its place, what strain costs and what would buy it back."""

from analyzer.capacity.answer import capacity, check_zone

__all__ = ["capacity", "check_zone"]
