#!/bin/sh
# Entry point of the BDT Platform image. The first argument picks the role; extra arguments are passed on.
#   web       gunicorn serving bdt_project.wsgi:application on :8000 (static files by whitenoise)
#   worker    Celery worker; queues from CELERY_QUEUES (default: all four), concurrency CELERY_CONCURRENCY
#   beat      Celery beat (run exactly one)
#   migrate   migrate_schemas --shared, then every tenant schema, then make sure the public tenant exists; empties the
#             Prometheus multiprocess directory (the new web/worker processes start counting from zero)
#   manage    python manage.py <args>, e.g. `manage tenant_create lab-a --name "Lab A" --domain lab-a.example.org`
#   anything else is executed as given (e.g. `sh`)
set -eu

role="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

case "$role" in
  web)
    exec gunicorn bdt_project.wsgi:application \
      --bind "0.0.0.0:${PORT:-8000}" \
      --worker-class gthread \
      --workers "${GUNICORN_WORKERS:-3}" \
      --threads "${GUNICORN_THREADS:-4}" \
      --timeout "${GUNICORN_TIMEOUT:-120}" \
      --graceful-timeout 30 \
      --keep-alive "${GUNICORN_KEEP_ALIVE:-75}" \
      --max-requests "${GUNICORN_MAX_REQUESTS:-2000}" \
      --max-requests-jitter 200 \
      --error-logfile - \
      "$@"
    ;;
  worker)
    exec celery -A bdt_project worker \
      --queues "${CELERY_QUEUES:-default,ingest,queries,interactive}" \
      --concurrency "${CELERY_CONCURRENCY:-2}" \
      --loglevel "${CELERY_LOGLEVEL:-INFO}" \
      --hostname "${CELERY_HOSTNAME:-worker@%h}" \
      "$@"
    ;;
  beat)
    exec celery -A bdt_project beat \
      --loglevel "${CELERY_LOGLEVEL:-INFO}" \
      --schedule /tmp/celerybeat-schedule \
      "$@"
    ;;
  migrate)
    metrics_dir="${PROMETHEUS_MULTIPROC_DIR:-${BDT_STATE_DIR:-/var/lib/bdt}/metrics}"
    mkdir -p "$metrics_dir" && find "$metrics_dir" -maxdepth 1 -name '*.db' -type f -delete
    python manage.py migrate_schemas --shared --noinput
    python manage.py migrate_schemas --noinput
    exec python manage.py shell --verbosity 0 -c "from tenants.services import public_tenant_ensure; public_tenant_ensure()"
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
