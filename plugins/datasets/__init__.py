"""Loaders for the public medical VQA datasets (VQA-RAD, SLAKE, PathVQA) and JSONL manifests."""
