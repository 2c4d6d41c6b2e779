"""mcmot: calibration-free multi-camera multi-object tracking of people."""

__version__ = "0.1.0"

__all__ = ["__version__"]
