"""Artifact blobs: job inputs and results, behind one small interface."""
