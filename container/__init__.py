"""The runtime that runs inside the image: SageMaker's training and serving contracts.

Nothing here has import-time side effects: paths are computed when asked for, and no
directory is created until a job writes into it.
"""

__version__ = "0.1.0"
