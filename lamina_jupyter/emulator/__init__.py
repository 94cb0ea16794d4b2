"""A local Lamina API emulator (work in progress)."""
