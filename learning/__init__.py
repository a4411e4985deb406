"""Lead scoring: features from the timeline, the online model, reasons, and its persistence."""
