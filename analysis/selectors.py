"""Reads of profile jobs, through the analysis access check of their run."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from analysis.access import QUERY, analysis_run_get
from analysis.models import ProfileJob
from core.errors import NotFound
from queries.models import QueryRun
from tenants.models import Tenant


def profile_job_get_for_user(*, user: Any, tenant: Tenant, job_id: int) -> ProfileJob:
    """A profile job whose run the caller may analyse (query level), else 404/403."""
    job = ProfileJob.objects.select_related("run", "run__study").filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such profile.")
    analysis_run_get(actor=user, tenant=tenant, run_id=job.run_id, level=QUERY)
    return job


def profile_jobs_of_run(run: QueryRun) -> QuerySet[ProfileJob]:
    """Profiles of a run, newest first (the caller passed the run's access check)."""
    return ProfileJob.objects.filter(run=run).order_by("-created_at")


def profile_job_out(job: ProfileJob) -> dict[str, Any]:
    """The API shape of a profile job (without the report)."""
    return {
        "id": job.pk,
        "run": job.run_id,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


def profile_context(job: ProfileJob) -> dict[str, Any]:
    """Template context of a profile page, panel or HTML download."""
    report = job.report or {}
    correlations = report.get("correlations") or {}
    return {
        "job": job,
        "run": job.run,
        "report": report,
        "percent": round(job.progress * 100),
        "correlation_rows": list(zip(correlations.get("columns", []), correlations.get("pearson", []), strict=False)),
    }
