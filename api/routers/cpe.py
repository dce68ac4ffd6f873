"""HTTP: IP phone (CPE) inventory: device models, CPE profiles, phones, allocation to customers,
ports assigned to extensions, batch uploads.
"""

from __future__ import annotations

import shutil
from typing import Annotated, Any, Literal
from uuid import UUID
from weakref import WeakKeyDictionary

from fastapi import APIRouter, File, Path, Query, Response, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from adapters.cpe_files import errors_csv, template_csv, template_xlsx
from adapters.cpe_uploads import UploadJobs
from api.cpe_schemas import (
    MacText,
    ModelCreate,
    ModelPublic,
    PhoneCreate,
    PhoneList,
    PhonePublic,
    PhonesAllocate,
    PortAssign,
    PortMove,
    ProfileCreate,
    ProfilePublic,
    UploadAccepted,
    UploadPublic,
)
from api.deps import ActorDep, ContextDep, RuntimeDep
from api.openapi import created, link, problems
from api.routers.common import ACCEPTED, Limit, Offset
from api.routing import ProblemRoute
from api.schemas import Page
from composition.runtime import Runtime
from domain.directory.access import Scope
from domain.provisioning.application import ProvisioningService
from domain.provisioning.cpe_rows import mac_address
from domain.shared.actor import CommandContext
from domain.shared.errors import NotFoundError
from domain.shared.permissions import Access, Section
from projections.cpe import CpeQueries

router = APIRouter(prefix="/v1/cpe", tags=["cpe"], route_class=ProblemRoute)
PHONE = "/v1/cpe/phones/{phone_id}"
UPLOAD = "/v1/cpe/uploads/{upload_id}"
CHANGE = problems(403, 404, 409, 422)
PortNumber = Annotated[int, Path(ge=1, le=64, description="1 to the model's ports")]
# documents a bound; the real one is SWITCHLOG_UPLOAD_MAX_BYTES (50 MiB by default)
UPLOAD_SCHEMA = {"maxLength": 50 * 1024 * 1024}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_jobs: WeakKeyDictionary[Runtime, UploadJobs] = WeakKeyDictionary()


def _service(runtime: Runtime) -> ProvisioningService:
    service = runtime.services["provisioning"]
    assert isinstance(service, ProvisioningService)
    return service


def jobs(runtime: Runtime) -> UploadJobs:
    """The runtime's upload jobs (one runner per process and store)."""
    if runtime not in _jobs:
        _jobs[runtime] = UploadJobs(
            _service(runtime), runtime.settings.store_url, runtime.settings.var_dir / "uploads"
        )
    return _jobs[runtime]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    on = {p["port"]: p for p in row["assignments"]}
    ports = [
        {
            "port": port,
            "account_id": on[port]["account_id"] if port in on else None,
            "account_login": on[port]["account_login"] if port in on else None,
        }
        for port in range(1, row["ports"] + 1)
    ]
    return {**row, "ports_total": row["ports"], "ports": ports}


def _phone(runtime: Runtime, scope: Scope, phone_id: UUID, version: int = 0) -> Any:
    """The phone's row once the read model shows `version` (read-your-writes, bounded)."""
    queries = CpeQueries(runtime.db)

    def shown() -> dict[str, Any] | None:
        row = queries.phone(scope, str(phone_id))
        return row if row is not None and int(row["version"]) >= version else None

    row = runtime.read_your_writes("cpe", shown) if version else shown()
    if row is None:
        if version:
            location = f"/v1/cpe/phones/{phone_id}"
            return JSONResponse(
                {"id": str(phone_id), "version": version, "location": location},
                status_code=202,
                headers={"Location": location},
            )
        raise NotFoundError(f"phone {phone_id} not found")
    return _public(row)


# -- catalogue ---------------------------------------------------------------------------
@router.post("/models", status_code=201, response_model=ModelPublic, responses=CHANGE)
def add_model(body: ModelCreate, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Add a device model with its number of ports (admins)."""
    model_id = _service(runtime).add_device_model(ctx, body.name, body.ports)
    return {"id": model_id, "name": body.name, "ports": body.ports}


@router.get("/models", response_model=list[ModelPublic])
def list_models(runtime: RuntimeDep, ctx: ContextDep) -> list[dict[str, Any]]:
    """Device models."""
    ctx.require(Section.PHONES, Access.READ)
    return CpeQueries(runtime.db).models()


@router.post("/profiles", status_code=201, response_model=ProfilePublic, responses=CHANGE)
def add_profile(body: ProfileCreate, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Add a CPE profile (admins)."""
    profile_id = _service(runtime).add_cpe_profile(ctx, body.name)
    return {"id": profile_id, "name": body.name}


@router.get("/profiles", response_model=list[ProfilePublic])
def list_profiles(runtime: RuntimeDep, ctx: ContextDep) -> list[dict[str, Any]]:
    """CPE profiles."""
    ctx.require(Section.PHONES, Access.READ)
    return CpeQueries(runtime.db).profiles()


# -- phones ------------------------------------------------------------------------------
@router.post(
    "/phones",
    status_code=201,
    response_model=PhonePublic,
    responses={
        **ACCEPTED,
        **created(
            403,
            404,
            409,
            422,
            GetPhone=link("get", PHONE, phone_id="$response.body#/id"),
            GetSubjectAsOf=link(
                "get", "/v1/audit/subjects/{subject}", subject="$response.body#/id"
            ),
        ),
    },
)
def add_phone(body: PhoneCreate, runtime: RuntimeDep, ctx: ContextDep) -> Any:
    """Put a phone in the inventory (admins and resellers; a reseller's are its own)."""
    phone_id = _service(runtime).add_phone(ctx, **body.model_dump())
    return _phone(runtime, Scope.of(ctx.actor), phone_id, version=1)


@router.get("/phones", response_model=Page[PhonePublic], responses=problems(403))
def list_phones(
    runtime: RuntimeDep,
    ctx: ContextDep,
    mac: Annotated[MacText | None, Query(description="Only the phone with this MAC")] = None,
    customer_id: UUID | None = None,
    model_id: UUID | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The phones the caller may see, with their ports and what is on each."""
    ctx.require(Section.PHONES, Access.READ)
    filters = {
        "mac": mac_address(mac) if mac is not None else None,
        "customer_id": customer_id,
        "model_id": model_id,
    }
    rows, more = CpeQueries(runtime.db).phones(Scope.of(ctx.actor), filters, limit, offset)
    return {"items": [_public(r) for r in rows], "next": more}


@router.get(PHONE.removeprefix("/v1/cpe"), response_model=PhonePublic, responses=problems(403, 404))
def get_phone(phone_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> Any:
    """One phone (a phone the caller may not see is not found)."""
    ctx.require(Section.PHONES, Access.READ)
    return _phone(runtime, Scope.of(ctx.actor), phone_id)


@router.delete(PHONE.removeprefix("/v1/cpe"), status_code=204, responses=CHANGE)
def remove_phone(phone_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> Response:
    """Take a phone out of the inventory (none of its ports may be assigned)."""
    _service(runtime).remove_phone(ctx, phone_id)
    queries = CpeQueries(runtime.db)
    runtime.read_your_writes(
        "cpe", lambda: True if queries.phone(Scope.of(ctx.actor), str(phone_id)) is None else None
    )
    return Response(status_code=204)


@router.post("/phones/allocate", response_model=PhoneList, responses=CHANGE)
def allocate_phones(body: PhonesAllocate, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """Allocate phones, looked up by MAC, to a customer (null: back to stock); all or none."""
    allocated = _service(runtime).allocate_phones(ctx, body.macs, body.customer_id)
    scope = Scope.of(ctx.actor)
    shown = [_phone(runtime, scope, phone_id, version) for phone_id, version in allocated]
    return {"items": [row for row in shown if isinstance(row, dict)]}


@router.put(
    PHONE.removeprefix("/v1/cpe") + "/ports/{port}", response_model=PhonePublic, responses=CHANGE
)
def assign_port(
    phone_id: UUID, port: PortNumber, body: PortAssign, runtime: RuntimeDep, ctx: ContextDep
) -> Any:
    """Put an extension (its account) on a free port of a phone allocated to its customer."""
    version = _service(runtime).assign_port(ctx, phone_id, port, body.account_id)
    return _phone(runtime, Scope.of(ctx.actor), phone_id, version)


@router.delete(
    PHONE.removeprefix("/v1/cpe") + "/ports/{port}", response_model=PhonePublic, responses=CHANGE
)
def unassign_port(phone_id: UUID, port: PortNumber, runtime: RuntimeDep, ctx: ContextDep) -> Any:
    """Free a port (a free port stays free)."""
    version = _service(runtime).unassign_port(ctx, phone_id, port)
    return _phone(runtime, Scope.of(ctx.actor), phone_id, version)


@router.post(
    PHONE.removeprefix("/v1/cpe") + "/ports/{port}/move",
    response_model=PhonePublic,
    responses=CHANGE,
)
def move_port(
    phone_id: UUID, port: PortNumber, body: PortMove, runtime: RuntimeDep, ctx: ContextDep
) -> Any:
    """Move the extension on a port to a free port of this or another of the customer's
    phones; answers with the phone it is now on."""
    target, version = _service(runtime).move_port(ctx, phone_id, port, body.phone_id, body.port)
    return _phone(runtime, Scope.of(ctx.actor), target, version)


# -- batch uploads -----------------------------------------------------------------------
@router.get(
    "/template",
    response_class=Response,
    responses={
        200: {
            "description": "The template, as CSV or as an Excel workbook",
            "content": {"text/csv": {}, XLSX: {}},
        },
        **problems(403),
    },
)
def template(actor: ActorDep, format: Literal["csv", "xlsx"] = "csv") -> Response:
    """The upload template: every column, in the one order an upload accepts."""
    if format == "xlsx":
        body, media_type = template_xlsx(), XLSX
    else:
        body, media_type = template_csv(), "text/csv; charset=utf-8"
    headers = {"Content-Disposition": f'attachment; filename="cpe-template.{format}"'}
    return Response(body, media_type=media_type, headers=headers)


@router.post(
    "/uploads",
    status_code=202,
    response_model=UploadAccepted,
    responses={
        **problems(403, 413, 422),
        202: {"links": {"GetUpload": link("get", UPLOAD, upload_id="$response.body#/id")}},
    },
)
def upload(
    file: Annotated[
        UploadFile,
        File(
            description="A .csv, .xls or .xlsx file (see /template)",
            json_schema_extra=UPLOAD_SCHEMA,
        ),
    ],
    runtime: RuntimeDep,
    ctx: ContextDep,
) -> JSONResponse:
    """Upload phones in a batch: the job runs in the background (follow its progress at
    /v1/cpe/uploads/{id}); a fault in the file as a whole applies nothing."""
    ctx.require(Section.PHONES, Access.MODIFY)
    Scope.of(ctx.actor).require_reseller_or_admin()
    runner = jobs(runtime)
    filename = file.filename or "upload"
    path = runner.spool_path(filename)
    limit = runtime.settings.upload_max_bytes
    with path.open("wb") as out:
        shutil.copyfileobj(file.file, out, 1 << 20)
        size = out.tell()
    if size > limit:
        path.unlink(missing_ok=True)
        raise HTTPException(413, f"uploads are limited to {limit} bytes")
    job_id = runner.start(ctx, path, filename)
    queries = CpeQueries(runtime.db)
    runtime.read_your_writes("cpe", lambda: queries.upload(Scope.of(ctx.actor), str(job_id)))
    location = f"/v1/cpe/uploads/{job_id}"
    return JSONResponse(
        {"id": str(job_id), "status": "running"}, status_code=202, headers={"Location": location}
    )


@router.get(UPLOAD.removeprefix("/v1/cpe"), response_model=UploadPublic, responses=problems(404))
def get_upload(upload_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    """An upload's progress, its counts and its first 1000 row errors."""
    row = _upload(runtime, ctx, upload_id)
    queries = CpeQueries(runtime.db)
    errors = queries.upload_errors(str(upload_id), limit=1000)
    total = len(errors) if len(errors) < 1000 else queries.count_errors(str(upload_id))
    done = row["rows_applied"] + row["rows_unchanged"] + row["rows_failed"]
    return {**row, "rows_done": done, "errors": errors, "errors_total": total}


@router.get(
    UPLOAD.removeprefix("/v1/cpe") + "/errors.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **problems(404)},
)
def upload_errors(upload_id: UUID, runtime: RuntimeDep, ctx: ContextDep) -> StreamingResponse:
    """The upload's errors as CSV (row, column, value, reason), safe to open in a spreadsheet."""
    _upload(runtime, ctx, upload_id)
    rows = CpeQueries(runtime.db).upload_errors(str(upload_id))
    headers = {"Content-Disposition": f'attachment; filename="cpe-upload-{upload_id}-errors.csv"'}
    return StreamingResponse(
        errors_csv(rows), media_type="text/csv; charset=utf-8", headers=headers
    )


def _upload(runtime: Runtime, ctx: CommandContext, upload_id: UUID) -> dict[str, Any]:
    """The job's row, once a job left running by a process that died shows failed."""
    ctx.require(Section.PHONES, Access.READ)
    scope = Scope.of(ctx.actor)
    queries = CpeQueries(runtime.db)
    row = queries.upload(scope, str(upload_id))
    if row is None:
        raise NotFoundError(f"upload {upload_id} not found")
    if row["status"] == "running" and jobs(runtime).check_alive(upload_id):

        def ended() -> dict[str, Any] | None:
            found = queries.upload(scope, str(upload_id))
            return found if found is not None and found["status"] != "running" else None

        row = runtime.read_your_writes("cpe", ended) or row
    return row
