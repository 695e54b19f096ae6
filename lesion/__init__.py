"""Runtime for the skin-lesion classifier demo: labels, preprocessing, the LiteRT classifier and model download.

Nothing here imports TensorFlow: serving needs only LiteRT, Pillow and NumPy.
"""
