"""Segmentation networks written in torch (U²-Net for background removal)."""
