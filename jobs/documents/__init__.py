"""Documents: recognising an uploaded CV's format, extracting its text, rendering a PDF."""
