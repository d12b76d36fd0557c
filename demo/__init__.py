"""The demo workspace that ``make run`` seeds (``seed_demo``): a lab, its people, a longitudinal demo study and its
governance. It stands at the top: it fills every app through their services."""
