"""Reading the audit trail: the log and history pages, the audit API, the CSV export and readable configuration
history. It stands at the top of the house (it names objects of every app); the recorder it reads (``audit.models``,
``audit.services``) sits at the bottom, callable from every layer."""
