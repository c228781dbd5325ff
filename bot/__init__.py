"""Rightsizer's bot: Git, manifests, policy, PR text and forges around the recommenders."""
