"""The classify stage: YAML rules in, a routing Decision per mail out."""

from mailflow.classify.explain import explain
from mailflow.classify.loader import check_rules, load_rules
from mailflow.classify.match import classify

__all__ = ["check_rules", "classify", "explain", "load_rules"]
