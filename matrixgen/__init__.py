"""matrixgen: a sector-partnership self-assessment run from one rubric file."""

__version__ = "0.1.0"
