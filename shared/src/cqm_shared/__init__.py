"""Shared contracts and plumbing of the complaint quality management suite (客诉质量管理)."""
