"""Access requests, data-use agreements and notifications."""
