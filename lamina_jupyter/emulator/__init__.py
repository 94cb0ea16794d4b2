"""A local Lamina API emulator: both API families, sample apps with real media, faults, rate limits
and signed webhooks. It imports nothing from the rest of lamina_jupyter (it shares only the wire
format), so a modelling bug in the client cannot be mirrored here and go unseen."""

from .server import Emulator

__all__ = ["Emulator"]
