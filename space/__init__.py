"""Turns this repository into a Hugging Face Space: the Space card, the build and the push."""
