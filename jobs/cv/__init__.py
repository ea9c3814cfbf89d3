"""The CV-text kit: sections and keywords, contact details kept from the model, the claims check."""
