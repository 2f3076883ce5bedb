"""Webhooks: signed notices of published, unpublished and re-reviewed articles for the publisher's CMS."""
