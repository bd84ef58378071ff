"""Shebao (社保合规助手): social insurance and housing fund compliance."""

__version__ = "0.1.0"
