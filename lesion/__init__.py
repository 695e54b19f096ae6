"""Runtime for the skin-lesion classifier demo: labels, preprocessing, the LiteRT classifier and model download.

Nothing here imports TensorFlow: the model runs on LiteRT, with Pillow and NumPy.
"""
