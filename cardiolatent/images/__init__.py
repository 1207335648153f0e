"""Images: reading UK Biobank cine series and preparing them for the model."""
