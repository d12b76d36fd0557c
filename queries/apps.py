from django.apps import AppConfig


class QueriesConfig(AppConfig):
    name = "queries"
    verbose_name = "Cohort queries"

    def ready(self) -> None:
        from queries.participant_stores import participant_store_signals_connect

        participant_store_signals_connect()
