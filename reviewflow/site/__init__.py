"""The publisher's site settings: logo, editorial policy and medical disclaimer, edited by admins."""
