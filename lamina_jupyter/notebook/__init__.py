"""IPython and ipywidgets: the %lamina magic, forms, run views, media previews, the kernel's client."""
