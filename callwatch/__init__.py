"""callwatch: a streaming, real-time call-center monitor."""

__version__ = "0.1.0"
